import { describe, expect, it } from 'vitest';
import { filterCandidates, isProtectedContainer, parseSelfContainerIds, type ContainerInfo } from '../src/host/docker.js';

const id = (c: string) => c.repeat(64);

function container(name: string, labels: Record<string, string> = {}, c = name[0]!): ContainerInfo {
  return { id: id(c.replace(/[^0-9a-f]/, 'a')), name, labels, state: 'running', image: 'img' };
}

describe('filterCandidates', () => {
  const web1 = { ...container('web-1', { app: 'web', zone: 'a' }), id: id('1') };
  const web2 = { ...container('web-2', { app: 'web', zone: 'b' }), id: id('2') };
  const db = { ...container('db', { app: 'db' }), id: id('3') };
  const prot = { ...container('web-3', { app: 'web', 'faultline.protected': 'true' }), id: id('4') };
  const ctl = { ...container('faultline-controller', { app: 'web', 'faultline.role': 'controller' }), id: id('5') };
  const agent = { ...container('faultline-agent', { app: 'web', 'faultline.role': 'agent' }), id: id('6') };
  const self = { ...container('web-self', { app: 'web' }), id: id('7') };
  const all = [web1, web2, db, prot, ctl, agent, self];

  it('matches everything but protected containers with an empty filter', () => {
    expect(filterCandidates(all, {}).map((c) => c.name)).toEqual(['web-1', 'web-2', 'db', 'web-self']);
  });

  it('requires every label', () => {
    expect(filterCandidates(all, { labels: { app: 'web' } }).map((c) => c.name)).toEqual(['web-1', 'web-2', 'web-self']);
    expect(filterCandidates(all, { labels: { app: 'web', zone: 'b' } }).map((c) => c.name)).toEqual(['web-2']);
    expect(filterCandidates(all, { labels: { app: 'nope' } })).toEqual([]);
  });

  it('applies namePattern and names together with labels', () => {
    expect(filterCandidates(all, { namePattern: '^web-[0-9]+$' }).map((c) => c.name)).toEqual(['web-1', 'web-2']);
    expect(filterCandidates(all, { namePattern: '^web-[0-9]+$', labels: { zone: 'a' } }).map((c) => c.name)).toEqual(['web-1']);
    expect(filterCandidates(all, { names: ['db', 'web-2', 'missing'] }).map((c) => c.name)).toEqual(['web-2', 'db']);
    expect(filterCandidates(all, { names: ['db'], labels: { app: 'web' } })).toEqual([]);
  });

  it('never returns protected, controller, agent or the agent’s own container', () => {
    const names = filterCandidates(all, { labels: { app: 'web' } }, [id('7')]).map((c) => c.name);
    expect(names).toEqual(['web-1', 'web-2']);
    expect(filterCandidates(all, { names: ['web-3', 'faultline-controller', 'faultline-agent'] })).toEqual([]);
  });

  it('rejects an invalid namePattern with a clear error', () => {
    expect(() => filterCandidates(all, { namePattern: '([' })).toThrow(/invalid namePattern/);
  });
});

describe('isProtectedContainer', () => {
  it('matches the agent’s id by prefix either way', () => {
    expect(isProtectedContainer({ id: id('a'), labels: {} }, [id('a').slice(0, 12)])).toBe(true);
    expect(isProtectedContainer({ id: id('a').slice(0, 12), labels: {} }, [id('a')])).toBe(true);
    expect(isProtectedContainer({ id: id('b'), labels: {} }, [id('a')])).toBe(false);
    expect(isProtectedContainer({ id: id('b'), labels: { 'faultline.protected': 'false' } }, [])).toBe(false);
    expect(isProtectedContainer({ id: id('b'), labels: { 'faultline.role': 'worker' } }, [])).toBe(false);
  });
});

describe('parseSelfContainerIds', () => {
  const cid = 'ab'.repeat(32);
  it('finds the id in cgroup v1 and v2 paths', () => {
    expect(parseSelfContainerIds(`12:memory:/docker/${cid}\n`, '')).toEqual([cid]);
    expect(parseSelfContainerIds(`0::/system.slice/docker-${cid}.scope\n`, '')).toEqual([cid]);
  });
  it('finds the id in the bind mount of /etc/hostname', () => {
    const mountinfo = `90 72 254:0 /var/lib/docker/containers/${cid}/hostname /etc/hostname rw,relatime - ext4 /dev/vda rw\n`;
    expect(parseSelfContainerIds('0::/\n', mountinfo)).toEqual([cid]);
  });
  it('finds nothing on a host, even with other containers’ shm mounts listed', () => {
    const mountinfo = `200 27 0:50 / /var/lib/docker/containers/${cid}/mounts/shm rw - tmpfs shm rw\n`;
    expect(parseSelfContainerIds('4:memory:/process_api/3f5ca461407b3f52fb59fe993b5e2a08\n0::/\n', mountinfo)).toEqual([]);
  });
});

describe('filterCandidates with a catastrophic namePattern', () => {
  it('refuses the pattern after its time budget instead of blocking the event loop', () => {
    const victim: ContainerInfo = { id: 'a1', name: `${'a'.repeat(40)}!`, labels: {}, state: 'running', image: 'x' };
    const started = performance.now();
    expect(() => filterCandidates([victim], { namePattern: '^(a+)+$' })).toThrow(/took over 200ms.*simplify the pattern/);
    // Without the budget this match runs for minutes; with it, about the budget.
    expect(performance.now() - started).toBeLessThan(5000);
  });
});

/**
 * The HTML report of a real run, rendered by a real headless Chromium (Debian `chromium`, driven by
 * playwright-core): the chart is there, one shaded window per fault, one mark per probe attempt,
 * marks inside the latency window drawn higher than the others, the verdict visible, nothing
 * loaded from anywhere but the file itself. A screenshot goes to test-results/report-chromium/.
 * With FAULTLINE_UPDATE_SCREENSHOT=1 it is also copied to docs/report-screenshot.png.
 */
import { copyFile, mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type BrowserContext } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import type { ProbeResult } from '@faultline/shared';
import { startWebContainer } from './fixtures/docker.js';
import { API_TOKEN, CONTROLLER_MAIN, ROOT, startAgent, startController, startRun, waitForRunEnd } from './fixtures/faultline.js';
import { runCommand, tempDir } from './fixtures/process.js';

const CHROMIUM = '/usr/bin/chromium';
const OUTPUT = path.join(ROOT, 'test-results', 'report-chromium');
const LATENCY_MS = 250;

/** Chromium with the flags this machine needs, in a fresh profile; dispose closes it and removes the profile. */
async function launchChromium(): Promise<BrowserContext & AsyncDisposable> {
  await stat(CHROMIUM).catch(() => {
    throw new Error(`${CHROMIUM} is missing: install it with \`bash scripts/ensure-tools.sh\` (Debian package chromium)`);
  });
  const profile = await tempDir('faultline-chromium-');
  const context = await chromium.launchPersistentContext(profile.path, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1100, height: 900 },
    timeout: 30_000,
  });
  return Object.assign(context, {
    async [Symbol.asyncDispose]() {
      await context.close().catch(() => undefined);
      await profile[Symbol.asyncDispose]();
    },
  });
}

describe('HTML report in a real Chromium', () => {
  it('renders the chart with the fault window, every probe attempt and the verdict', async () => {
    const label = `report-${Date.now()}`;
    await using web = await startWebContainer({ labels: { e2e: label } });
    await using controller = await startController();
    await using _agent = await startAgent(controller, { name: 'host-a' });
    const yaml = `apiVersion: faultline/v1
kind: Experiment
metadata:
  name: web-latency-report
  description: The web page keeps answering within 1s while ${LATENCY_MS}ms of latency is added to it
spec:
  targets:
    web: {containers: {labels: {e2e: "${label}"}}}
  steadyState:
    probes:
      - name: homepage
        type: http
        url: ${web.url}
        timeout: 2s
        expect: {status: 200, maxLatency: 1s, bodyContains: ok}
        when: [before, during, after]
        interval: 400ms
      # The proxy accepts connections at once and delays only the answers: this one stays flat.
      - name: port-80-open
        type: tcp
        host: 127.0.0.1
        port: ${web.port}
        when: [before, during, after]
        interval: 1s
  method:
    - fault: network-latency
      target: web
      duration: 6s
      params: {latency: ${LATENCY_MS}ms, ports: [80]}
`;
    const id = await startRun(controller, 'web-latency-report', yaml);
    const journal = await waitForRunEnd(controller, id, 40_000);
    expect(journal.status, journal.reason ?? '').toBe('completed');
    const results: ProbeResult[] = [...journal.steadyState.before, ...journal.steadyState.during, ...journal.steadyState.after];
    const windows = journal.faults.filter((f) => f.durationMs !== null && f.appliedAt !== null);
    expect(windows).toHaveLength(1);
    expect(journal.steadyState.during.length).toBeGreaterThanOrEqual(5);

    // The report as a user gets it: `faultline report ID --format html > report.html`.
    const report = await runCommand(process.execPath, [CONTROLLER_MAIN, 'report', id, '--format', 'html', '--server', controller.url, '--token', API_TOKEN]);
    expect(report.code, report.stderr).toBe(0);
    await mkdir(OUTPUT, { recursive: true });
    const htmlFile = path.join(OUTPUT, 'report.html');
    await writeFile(htmlFile, `${report.stdout}\n`);
    await writeFile(path.join(OUTPUT, 'journal.json'), JSON.stringify(journal, null, 2));

    await using browser = await launchChromium();
    const page = await browser.newPage();
    const requests: string[] = [];
    page.on('request', (request) => requests.push(request.url()));
    await page.goto(pathToFileURL(htmlFile).href, { waitUntil: 'load' });

    // Self-contained: the page loaded nothing but itself.
    expect(requests).toEqual([pathToFileURL(htmlFile).href]);

    const chart = page.locator('svg.timeline-chart');
    expect(await chart.isVisible()).toBe(true);
    const windowRects = chart.locator('rect.fault-window');
    expect(await windowRects.count()).toBe(windows.length);
    expect(await chart.locator('.probe-point').count()).toBe(results.length);
    expect(await chart.locator('.probe-point.failed').count()).toBe(results.filter((r) => !r.ok).length);
    expect(await chart.locator('text.fault-label').first().textContent()).toBe(`network-latency ${LATENCY_MS}ms · host-a/${web.name}`);

    // What a reader sees: each homepage mark lies inside the shaded window exactly when its attempt
    // started while the fault was active, and those marks sit higher (more latency) than the others.
    const box = await windowRects.first().boundingBox();
    expect(box).not.toBeNull();
    const { x: left, width } = box!;
    const marks = await chart.locator('.probe-point[data-probe="homepage"]').evaluateAll((nodes) =>
      nodes.map((node) => {
        const rect = node.getBoundingClientRect();
        return { x: rect.x + rect.width / 2, y: rect.y + rect.height / 2 };
      }),
    );
    const homepage = results.filter((r) => r.probe === 'homepage').sort((a, b) => a.at - b.at);
    expect(marks).toHaveLength(homepage.length);
    const fault = windows[0]!;
    const inside: number[] = [];
    const outside: number[] = [];
    homepage.forEach((result, i) => {
      const mark = marks[i]!;
      const onScreen = mark.x > left && mark.x < left + width;
      // Attempts within 50 ms of an edge are a pixel or so from it: not classified.
      if (result.at > fault.appliedAt! + 50 && result.at < fault.revertedAt! - 50) expect(onScreen, `attempt ${i} inside`).toBe(true);
      else if (result.at < fault.appliedAt! - 50 || result.at > fault.revertedAt! + 50) expect(onScreen, `attempt ${i} outside`).toBe(false);
      (onScreen ? inside : outside).push(mark.y);
    });
    expect(inside.length).toBeGreaterThanOrEqual(5);
    expect(outside.length).toBeGreaterThanOrEqual(2);
    // Screen y grows downwards; the window's marks carry ~250 ms more than the rest (about 200 px on
    // this axis), far more than a marker's size or a slow request on a busy machine.
    expect(median(inside)).toBeLessThan(median(outside) - 20);

    const verdict = page.locator('#verdict');
    expect(await verdict.isVisible()).toBe(true);
    expect(await verdict.locator('.status').textContent()).toBe('completed');
    expect(await verdict.innerText()).toContain('The hypothesis held');
    expect(await page.locator('.agent h3').first().innerText()).toContain('host-a');

    const screenshot = path.join(OUTPUT, 'report.png');
    await page.screenshot({ path: screenshot, fullPage: true });
    const size = (await stat(screenshot)).size;
    process.stdout.write(`report screenshot: ${screenshot} (${Math.round(size / 1024)} KB), ${results.length} probe attempts\n`);
    expect(size).toBeGreaterThan(10_000);
    if (process.env.FAULTLINE_UPDATE_SCREENSHOT === '1') {
      expect(size).toBeLessThan(300 * 1024);
      await copyFile(screenshot, path.join(ROOT, 'docs', 'report-screenshot.png'));
    }
  });
});

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

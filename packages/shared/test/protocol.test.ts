import { describe, expect, it } from 'vitest';
import { MAX_FRAME_BYTES, PROTOCOL_VERSION, decodeAgentMessage, decodeControllerMessage, encodeMessage, toWireError, FaultlineError } from '../src/index.js';

const hello = {
  type: 'hello',
  protocolVersion: PROTOCOL_VERSION,
  name: 'host-a',
  labels: { zone: 'a' },
  version: '0.1.0',
  capabilities: { faults: ['container-kill'], latencyMechanisms: ['proxy'] },
  leaseTimeoutMs: 15000,
  activeFaults: [],
};

describe('wire protocol', () => {
  it('round-trips a valid hello', () => {
    const decoded = decodeAgentMessage(encodeMessage(hello as never));
    expect(decoded).toEqual({ ok: true, message: hello });
  });
  it('rejects malformed JSON, wrong shapes and unknown types without throwing', () => {
    for (const raw of ['{', '[]', 'null', JSON.stringify({ type: 'nope' }), JSON.stringify({ ...hello, name: 42 })]) {
      const decoded = decodeAgentMessage(raw);
      expect(decoded.ok).toBe(false);
      if (!decoded.ok) expect(decoded.error.code).toBe('invalid_frame');
    }
  });
  it('keeps the request id of an invalid request so the error reply can name it', () => {
    const decoded = decodeControllerMessage(JSON.stringify({ type: 'inject', id: 'r1', faultId: 'bad id!' }));
    expect(decoded.ok).toBe(false);
    if (!decoded.ok) expect(decoded.id).toBe('r1');
  });
  it('refuses frames over the size limit', () => {
    const decoded = decodeControllerMessage('x'.repeat(MAX_FRAME_BYTES + 1));
    expect(!decoded.ok && decoded.error.message).toMatch(/exceeds/);
  });
  it('refuses container ids that are not plain hex-like words', () => {
    const decoded = decodeControllerMessage(
      JSON.stringify({ type: 'inject', id: 'r', faultId: 'f1', runId: 'r1', fault: 'container-kill', params: {}, containerId: '$(reboot)', durationMs: null }),
    );
    expect(decoded.ok).toBe(false);
  });
  it('normalises anything thrown into a wire error', () => {
    expect(toWireError(new FaultlineError('not_found', 'gone'))).toEqual({ code: 'not_found', message: 'gone', retryable: false });
    expect(toWireError(new Error('boom')).code).toBe('internal');
    expect(toWireError('text').message).toBe('text');
  });
});

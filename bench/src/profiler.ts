/** In-process CPU profiling of a window (node:inspector), so a profile covers only the measured work. */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';

let session: Session | undefined;

/** Starts the V8 CPU profiler in this process (sampling every 100 µs). */
export async function startProfiling(): Promise<void> {
  if (session) throw new Error('already profiling');
  session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 100 });
  await session.post('Profiler.start');
}

/** Stops the profiler and writes the profile (a .cpuprofile file Chrome DevTools opens). */
export async function stopProfiling(file: string): Promise<void> {
  if (!session) throw new Error('not profiling');
  const { profile } = await session.post('Profiler.stop');
  session.disconnect();
  session = undefined;
  writeFileSync(file, JSON.stringify(profile));
}

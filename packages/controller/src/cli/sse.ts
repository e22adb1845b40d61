/** One server-sent event. */
export interface SseMessage {
  /** The `event:` field; `message` when absent. */
  event: string;
  /** The `data:` lines joined with `\n`. */
  data: string;
  /** The last `id:` seen, if any. */
  id?: string;
}

/**
 * An incremental `text/event-stream` parser (WHATWG HTML §9.2.6): feed it text chunks split
 * anywhere, even inside a line or between `\r` and `\n`; it returns the events completed so far.
 */
export class SseParser {
  #buffer = '';
  #skipLeadingLf = false;
  #event = '';
  #data: string[] = [];
  #lastId: string | undefined;

  /** Adds a chunk and returns every event it completed. */
  push(chunk: string): SseMessage[] {
    let text = this.#buffer + chunk;
    if (this.#skipLeadingLf && text.startsWith('\n')) text = text.slice(1);
    this.#skipLeadingLf = false;
    const messages: SseMessage[] = [];
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const ch = text[i];
      if (ch !== '\n' && ch !== '\r') continue;
      this.#line(text.slice(start, i), messages);
      if (ch === '\r') {
        if (i + 1 < text.length) {
          if (text[i + 1] === '\n') i++;
        } else {
          // A CR at the end of the chunk: a following LF belongs to the same line ending.
          this.#skipLeadingLf = true;
        }
      }
      start = i + 1;
    }
    this.#buffer = text.slice(start);
    return messages;
  }

  #line(line: string, out: SseMessage[]): void {
    if (line === '') {
      if (this.#data.length > 0) {
        const message: SseMessage = { event: this.#event || 'message', data: this.#data.join('\n') };
        if (this.#lastId !== undefined) message.id = this.#lastId;
        out.push(message);
      }
      this.#event = '';
      this.#data = [];
      return;
    }
    if (line.startsWith(':')) return; // a comment, e.g. a keep-alive
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        this.#event = value;
        break;
      case 'data':
        this.#data.push(value);
        break;
      case 'id':
        if (!value.includes('\u0000')) this.#lastId = value;
        break;
      default:
        break; // `retry` and unknown fields are ignored
    }
  }
}

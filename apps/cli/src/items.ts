/**
 * @module
 * A JSON document read item by item when its records are the items of one array: a top-level
 * array (`gcloud logging read --format=json`, a Log Analytics export, an array of events) or an
 * object whose first member is `events` (`aws logs filter-log-events` / `get-log-events` output)
 * or `records` (an Event Hub body). Each item is handed over as soon as it is complete, so such a
 * document is read in bounded memory whatever its size. Any other document is read whole.
 *
 * Only the nesting is followed here (strings, escapes, brackets); each item is then parsed, and a
 * broken one reported, on its own.
 */

/** The members whose array is split, when it is the object's first member. */
const SPLIT_MEMBERS = ['events', 'records'];
/** How much of a document's start is enough to tell whether it can be split. */
const HEAD_BYTES = 4096;
/** Text after the array (`"nextToken": …}`) is small; more is not one of these documents. */
const MAX_TAIL = 1 << 20;

/** A complete item: its text and where it stands (`[3]`, `events[3]`). */
export interface Item {
  readonly text: string;
  readonly at: string;
}

/**
 * Feed the document's text in pieces; `push` returns the items completed so far. `undefined`
 * from `push` or `finish` means the document is not of a splittable shape: read it whole (the text
 * fed so far is in `fed`, while nothing was returned yet).
 *
 * @example
 * const splitter = new ItemSplitter();
 * for (const line of lines) for (const item of splitter.push(`${line}\n`) ?? []) handle(item);
 * const { error } = splitter.finish();
 */
export class ItemSplitter {
  /** Text not handed over yet: the head while undecided, then from the current item's start. */
  private buffer = '';
  /** Where scanning resumes in `buffer`. */
  private pos = 0;
  private state: 'head' | 'between' | 'item' | 'tail' | 'whole' = 'head';
  /** `[` for a top-level array, else the member's name. */
  private member = '';
  private index = 0;
  /** After an item: a comma is needed before the next. */
  private needComma = false;
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** The current item is a scalar (a number, true, …): it ends at `,`, `]` or whitespace. */
  private scalar = false;
  private tail = '';

  /** True once the document turned out not to be splittable. */
  get whole(): boolean {
    return this.state === 'whole';
  }

  /** Characters held: the head, or the item in progress. */
  get pending(): number {
    return this.buffer.length;
  }

  /** The text fed so far, for reading the document whole; valid only when `whole` turned true before any item. */
  get fed(): string {
    return this.buffer;
  }

  push(text: string): Item[] | undefined {
    if (this.state === 'whole') return undefined;
    this.buffer += text;
    if (this.state === 'head' && !this.decide(false)) return this.whole ? undefined : [];
    return this.scan();
  }

  /** The end of the document: an error when it is cut short or has something after the array. */
  finish(): { error?: string } | undefined {
    if (this.state === 'head' && !this.decide(true)) return undefined;
    if (this.state === 'whole') return undefined;
    if (this.state !== 'tail') return { error: `unexpected end of input after ${this.index} items` };
    const rest = this.tail + this.buffer.slice(this.pos);
    if (this.member === '[') return rest.trim() === '' ? {} : { error: 'unexpected data after the JSON value' };
    try {
      JSON.parse(`{"x":[]${rest}`);
      return {};
    } catch {
      return { error: `not valid JSON after ${this.member}[]` };
    }
  }

  /** Settle the document's shape from its start; false while more text is needed. */
  private decide(atEnd: boolean): boolean {
    const text = this.buffer.charCodeAt(0) === 0xfeff ? this.buffer.slice(1) : this.buffer;
    const start = text.search(/\S/);
    if (start >= 0 && text[start] === '[') {
      this.member = '[';
      this.enter(this.buffer.indexOf('['));
      return true;
    }
    const match = /^\s*\{\s*"([a-z]+)"\s*:\s*\[/.exec(text);
    if (match && SPLIT_MEMBERS.includes(match[1] as string)) {
      this.member = match[1] as string;
      this.enter(this.buffer.length - text.length + match[0].length - 1);
      return true;
    }
    // Not yet decidable while the start could still become `{"events": [`.
    const undecided = /^\s*(\{\s*("[a-z]*("\s*(:\s*)?)?)?)?$/.test(text);
    if (undecided && !atEnd && text.length < HEAD_BYTES) return false;
    this.state = 'whole';
    return false;
  }

  /** Start splitting at the array's `[`, at `bracket` in the buffer. */
  private enter(bracket: number): void {
    this.buffer = this.buffer.slice(bracket + 1);
    this.pos = 0;
    this.state = 'between';
  }

  private scan(): Item[] {
    const items: Item[] = [];
    const s = this.buffer;
    let i = this.pos;
    let start = this.state === 'item' ? 0 : -1;
    const emit = (end: number) => {
      items.push({ text: s.slice(start, end), at: `${this.member === '[' ? '' : this.member}[${this.index++}]` });
      this.state = 'between';
      this.needComma = true;
      start = -1;
      i = end;
    };
    while (i < s.length && this.state !== 'tail') {
      const c = s.charCodeAt(i);
      if (this.state === 'between') {
        if (c === 32 || c === 10 || c === 13 || c === 9) i++;
        else if (c === 44 && this.needComma) {
          this.needComma = false;
          i++;
        } else if (c === 93 && (this.needComma || this.index === 0)) {
          this.state = 'tail';
          i++;
          break;
        } else {
          // An item starts (after a missing comma too: it is handed over, and reported, on its own).
          this.needComma = false;
          this.state = 'item';
          start = i;
          this.depth = 0;
          this.inString = false;
          this.escaped = false;
          this.scalar = c !== 123 && c !== 91 && c !== 34;
        }
      } else if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === 92) this.escaped = true;
        else if (c === 34) {
          this.inString = false;
          if (this.depth === 0) {
            emit(i + 1);
            continue;
          }
        }
        i++;
      } else if (this.scalar) {
        if (c === 44 || c === 93 || c === 32 || c === 10 || c === 13 || c === 9) emit(i);
        else i++;
      } else {
        if (c === 34) this.inString = true;
        else if (c === 123 || c === 91) this.depth++;
        else if ((c === 125 || c === 93) && --this.depth === 0) {
          emit(i + 1);
          continue;
        }
        i++;
      }
    }
    if (this.state === 'tail') {
      this.tail += s.slice(i, i + MAX_TAIL + 1 - this.tail.length);
      this.buffer = '';
      this.pos = 0;
    } else if (this.state === 'item') {
      this.buffer = s.slice(start);
      this.pos = i - start;
    } else {
      this.buffer = s.slice(i);
      this.pos = 0;
    }
    return items;
  }
}

import { describe, expect, it } from 'vitest';
import { type Item, ItemSplitter } from './items';

/** Feed `text` cut at the given places; the items, or undefined when it is read whole, and the end. */
function split(text: string, cuts: number[] = []): { items: Item[] | undefined; end: { error?: string } | undefined } {
  const splitter = new ItemSplitter();
  const items: Item[] = [];
  let whole = false;
  let from = 0;
  for (const cut of [...cuts, text.length]) {
    const got = splitter.push(text.slice(from, cut));
    if (got === undefined) whole = true;
    else items.push(...got);
    from = cut;
  }
  const end = splitter.finish();
  return { items: whole || end === undefined ? undefined : items, end };
}

const tricky = [
  { message: 'brackets ] } [ { and an escaped quote \\" and a backslash \\\\' },
  { nested: [[], [{}], { a: [1, 2] }] },
  'a string item',
  42,
  true,
  null,
];

describe('ItemSplitter', () => {
  it('hands over the items of a top-level array, wherever the text is cut', () => {
    for (const text of [JSON.stringify(tricky, null, 2), JSON.stringify(tricky)]) {
      for (let cut = 0; cut <= text.length; cut++) {
        const { items, end } = split(text, [cut]);
        expect(end, `cut at ${cut}`).toEqual({});
        expect(
          items?.map((item) => JSON.parse(item.text)),
          `cut at ${cut}`,
        ).toEqual(tricky);
        expect(items?.map((item) => item.at)).toEqual(tricky.map((_, index) => `[${index}]`));
      }
    }
  });

  it('splits the events of CloudWatch CLI output and the records of an Event Hub body, and checks what follows', () => {
    const events = { events: [{ message: 'a' }, { message: 'b' }], searchedLogStreams: [], nextToken: 'x' };
    const { items, end } = split(JSON.stringify(events, null, 4), [7, 30]);
    expect(items?.map((i) => [i.at, JSON.parse(i.text)])).toEqual([
      ['events[0]', { message: 'a' }],
      ['events[1]', { message: 'b' }],
    ]);
    expect(end).toEqual({});
    expect(split('{"records":[]}').items).toEqual([]);
    expect(split('{"records":[{"a":1}], "oops"}').end).toEqual({ error: 'not valid JSON after records[]' });
    expect(split('[{"a":1}] [2]').end).toEqual({ error: 'unexpected data after the JSON value' });
  });

  it('reports a document cut short', () => {
    expect(split('[{"a":1},{"b":').end).toEqual({ error: 'unexpected end of input after 1 items' });
    expect(split('{"events":[').end).toEqual({ error: 'unexpected end of input after 0 items' });
  });

  it('leaves other documents to be read whole', () => {
    for (const text of [
      '{"kind":"EventList","items":[]}',
      '{\n  "messageType": "DATA_MESSAGE", "logEvents": []}',
      '{"results":[]}',
      '{"eventsX":[]}',
      '{"events":{}}',
      '{',
      '',
    ]) {
      expect(split(text).items, text.slice(0, 40)).toBeUndefined();
    }
  });

  it('hands over broken items as they are, to be reported one by one', () => {
    const { items } = split('[{"a":1} {"b":2}, nope, {"c":]');
    expect(items?.map((i) => i.text)).toEqual(['{"a":1}', '{"b":2}', 'nope', '{"c":]']);
  });
});

import { describe, expect, test } from 'vitest';
import { csvField, toCSV } from './csv';

describe('csv', () => {
  test('quotes only what needs it', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField(null)).toBe('');
    expect(csvField(3.5)).toBe('3.5');
  });
  test('a header and a row per record', () => {
    expect(
      toCSV(
        ['a', 'b'],
        [
          { a: 1, b: 'x,y' },
          { a: 2, b: '' },
        ],
      ),
    ).toBe('a,b\r\n1,"x,y"\r\n2,\r\n');
  });
});

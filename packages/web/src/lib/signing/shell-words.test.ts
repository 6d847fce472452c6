import { describe, expect, it } from 'vitest';
import { shellQuote, splitShellWords } from './shell-words.js';

describe('splitShellWords', () => {
  it('splits on blanks and keeps quoted text whole, with no expansion', () => {
    expect(splitShellWords('echo hello-from-browser')).toEqual(['echo', 'hello-from-browser']);
    expect(splitShellWords('  nvidia-smi   -L ')).toEqual(['nvidia-smi', '-L']);
    expect(splitShellWords(`grep -i 'xid [0-9]+' "/var/log/kern log" $HOME *`)).toEqual(['grep', '-i', 'xid [0-9]+', '/var/log/kern log', '$HOME', '*']);
    expect(splitShellWords(`say "a \\"quoted\\" \\$word" it\\'s`)).toEqual(['say', 'a "quoted" $word', "it's"]);
    expect(splitShellWords(`empty '' ""`)).toEqual(['empty', '', '']);
    expect(splitShellWords(`con'cat'"enated"`)).toEqual(['concatenated']);
    expect(splitShellWords('')).toEqual([]);
  });

  it('refuses an unclosed quote', () => {
    expect(() => splitShellWords(`echo 'oops`)).toThrow('a single quote is not closed');
    expect(() => splitShellWords(`echo "oops`)).toThrow('a double quote is not closed');
  });

  it('shellQuote is its inverse for any word', () => {
    const words = ['plain', '', 'two words', "it's", '$HOME', 'a"b', 'back\\slash', 'new\nline', 'ünï', '*'];
    expect(splitShellWords(words.map(shellQuote).join(' '))).toEqual(words);
    expect(shellQuote('region=eu,pool=a')).toBe('region=eu,pool=a');
    expect(shellQuote('x y')).toBe("'x y'");
  });
});

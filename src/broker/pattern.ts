/**
 * Routing keys and subscription patterns, AMQP topic-exchange rules:
 * a key is dot-separated words; in a pattern `*` matches exactly one word and
 * `#` matches zero or more words. The empty key (a message published without
 * a key) has zero words, so only patterns made of `#` alone match it.
 */

export const MAX_KEY_LENGTH = 255;

const WORD = /^[^.*#\s]+$/;
/** Half of a UTF-16 surrogate pair alone: no character, and stored as U+FFFD, so not the key delivered live. */
const LONE_SURROGATE = /\p{Cs}/u;

/** Why a key or pattern is invalid, or undefined when it is valid. Hot path: returns, never throws. */
export function routingKeyProblem(key: string): string | undefined {
  if (key === "") return undefined;
  if (key.length > MAX_KEY_LENGTH) return `a routing key has at most ${MAX_KEY_LENGTH} characters`;
  if (LONE_SURROGATE.test(key)) return "a routing key is well-formed Unicode: no lone surrogate";
  for (const word of key.split(".")) {
    if (!WORD.test(word)) {
      return "a routing key is non-empty words separated by dots; words contain no spaces, `*` or `#`";
    }
  }
  return undefined;
}

export function patternProblem(pattern: string): string | undefined {
  if (pattern === "") return "a pattern is not empty (use `#` to match everything)";
  if (pattern.length > MAX_KEY_LENGTH) return `a pattern has at most ${MAX_KEY_LENGTH} characters`;
  if (LONE_SURROGATE.test(pattern)) return "a pattern is well-formed Unicode: no lone surrogate";
  for (const word of pattern.split(".")) {
    if (word !== "*" && word !== "#" && !WORD.test(word)) {
      return "a pattern is words, `*` or `#` separated by dots; `*` and `#` stand alone between dots";
    }
  }
  return undefined;
}

export type KeyMatcher = (key: string) => boolean;

/** Compiles a valid pattern into a matcher. */
export function compilePattern(pattern: string): KeyMatcher {
  if (pattern === "#") return () => true;
  const words = pattern.split(".");
  const hasWildcard = words.some((word) => word === "*" || word === "#");
  if (!hasWildcard) return (key) => key === pattern;
  if (!words.includes("#")) {
    return (key) => {
      const keyWords = key === "" ? [] : key.split(".");
      if (keyWords.length !== words.length) return false;
      for (let i = 0; i < words.length; i += 1) {
        if (words[i] !== "*" && words[i] !== keyWords[i]) return false;
      }
      return true;
    };
  }
  return (key) => matchWords(words, key === "" ? [] : key.split("."));
}

/** Iterative wildcard match with backtracking to the last `#` (linear for one `#`, no recursion). */
function matchWords(pattern: readonly string[], key: readonly string[]): boolean {
  let p = 0;
  let k = 0;
  let starP = -1;
  let starK = 0;
  while (k < key.length) {
    const word = pattern[p];
    if (word === "#") {
      starP = p;
      starK = k;
      p += 1;
    } else if (word !== undefined && (word === "*" || word === key[k])) {
      p += 1;
      k += 1;
    } else if (starP >= 0) {
      p = starP + 1;
      starK += 1;
      k = starK;
    } else {
      return false;
    }
  }
  while (pattern[p] === "#") p += 1;
  return p === pattern.length;
}

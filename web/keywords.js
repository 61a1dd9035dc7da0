// Parsing the keyword box: one per line, or separated by commas (or tabs, as a spreadsheet pastes).

/** Length as the server counts it (code points, not UTF-16 units). */
export const charLength = (s) => [...s].length;

/**
 * @returns {{keywords: string[], duplicates: {keyword: string, count: number}[], duplicateCount: number,
 *            tooLong: string[], overLimit: number}}
 */
export function parseKeywords(text, { maxKeywords = 1000, maxKeywordChars = 100 } = {}) {
  const keywords = [];
  const counts = new Map();
  const tooLong = [];
  for (const part of text.split(/[\r\n,\t]+/)) {
    const k = part.trim();
    if (!k) continue;
    keywords.push(k);
    counts.set(k, (counts.get(k) || 0) + 1);
    if (charLength(k) > maxKeywordChars) tooLong.push(k);
  }
  const duplicates = [];
  let duplicateCount = 0;
  for (const [keyword, count] of counts) {
    if (count > 1) {
      duplicates.push({ keyword, count });
      duplicateCount += count - 1;
    }
  }
  return {
    keywords,
    duplicates,
    duplicateCount,
    tooLong,
    overLimit: Math.max(0, keywords.length - maxKeywords),
  };
}

/** The same keywords with later duplicates dropped, one per line. */
export function dedupeText(text) {
  const seen = new Set();
  const out = [];
  for (const part of text.split(/[\r\n,\t]+/)) {
    const k = part.trim();
    if (!k || seen.has(k)) continue;
    seen.add(k);
    out.push(k);
  }
  return out.join('\n');
}

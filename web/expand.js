// "연관 키워드로 조회": the related keywords Naver's keyword tool gives for the keywords in the
// box (POST /api/documents/expand), by monthly searches; the chosen ones go into the box for a
// new batch. Shown only when the server has a search volume source.

import { api, ApiError } from './api.js';
import { $, toast } from './dom.js';
import { fmtNum } from './format.js';
import { parseKeywords } from './keywords.js';
import { page } from './page.js';

const MAX_HINTS = 50;

function volumeText(row) {
  if (row.totalBelow && row.total <= 20) return '< 10';
  return fmtNum(row.total);
}

/** Show or hide the button for the server's config. */
export function renderExpandButton() {
  $('expand-open').hidden = !page.config.volumeProvider || page.config.volumeProvider === 'off';
}

/** @param {() => void} onFilled called after the keywords replaced the box's text */
export function wireExpand(onFilled) {
  const panel = $('expand-panel');
  const list = $('expand-list');
  $('expand-open').addEventListener('click', async (e) => {
    const btn = e.currentTarget;
    const { keywords } = parseKeywords($('keywords').value, page.config);
    if (!keywords.length) {
      toast('연관 키워드를 찾을 키워드를 먼저 입력해 주세요.', 'error');
      return;
    }
    btn.disabled = true;
    try {
      const res = await api('/api/documents/expand', {
        method: 'POST',
        body: { keywords: [...new Set(keywords)].slice(0, MAX_HINTS), limit: 100 },
        interactive: true,
      });
      $('expand-source').textContent = res.source === 'demo' ? '(데모 값)' : '';
      list.replaceChildren(
        ...res.keywords.map((row, i) => {
          const li = document.createElement('li');
          const label = document.createElement('label');
          const box = document.createElement('input');
          box.type = 'checkbox';
          box.value = row.keyword;
          box.checked = i < 20; // the 20 most searched, to start with
          label.append(box, ` ${row.keyword}`);
          const vol = document.createElement('span');
          vol.className = 'vol';
          vol.textContent = `월 ${volumeText(row)}회`;
          li.append(label, vol);
          return li;
        }),
      );
      panel.hidden = false;
    } catch (err) {
      toast(err instanceof ApiError ? err.message : '연관 키워드를 불러오지 못했습니다.', 'error');
    } finally {
      btn.disabled = false;
    }
  });
  $('expand-cancel').addEventListener('click', () => {
    panel.hidden = true;
  });
  $('expand-apply').addEventListener('click', () => {
    const chosen = [...list.querySelectorAll('input:checked')].map((b) => b.value);
    if (!chosen.length) {
      toast('넣을 키워드를 하나 이상 고르세요.', 'error');
      return;
    }
    $('keywords').value = chosen.join('\n');
    panel.hidden = true;
    onFilled();
    toast(`연관 키워드 ${fmtNum(chosen.length)}개를 넣었습니다. 조회 시작을 누르세요.`, 'success');
    $('keywords').focus();
  });
}

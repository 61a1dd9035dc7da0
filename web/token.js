// The API token dialog: asked for when the server requires a token (or rejects ours).

import { setTokenPrompt } from './api.js';
import { $ } from './dom.js';

function tokenProblem(value) {
  if (!value.trim()) return '토큰을 입력해 주세요.';
  // HTTP headers carry ASCII only: a pasted Korean word or a stray space is a typo
  if (/[^\x21-\x7e]/.test(value.trim())) return '토큰에는 영문, 숫자, 기호만 쓸 수 있습니다.';
  return null;
}

function promptToken(invalid) {
  const dlg = $('token-dialog');
  const input = $('token-input');
  const err = $('token-error');
  err.textContent = '토큰이 올바르지 않습니다. 다시 확인해 주세요.';
  err.hidden = !invalid;
  input.value = '';
  return new Promise((resolve) => {
    dlg.returnValue = '';
    dlg.addEventListener(
      'close',
      () => resolve(dlg.returnValue === 'ok' && input.value.trim() ? input.value.trim() : null),
      { once: true },
    );
    dlg.showModal();
    input.focus();
  });
}

export function wireTokenDialog() {
  $('token-cancel').addEventListener('click', () => $('token-dialog').close('cancel'));
  $('token-form').addEventListener('submit', (e) => {
    const problem = tokenProblem($('token-input').value);
    if (problem) {
      e.preventDefault();
      $('token-error').textContent = problem;
      $('token-error').hidden = false;
      $('token-input').focus();
    }
  });
  setTokenPrompt(promptToken);
}

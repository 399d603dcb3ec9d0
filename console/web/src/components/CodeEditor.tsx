// A plain-text code editor with line numbers: a textarea beside a gutter
// that scrolls with it. Problems mark their line in the gutter and are
// listed under the editor; choosing one puts the caret at its row and column.
import { forwardRef, useImperativeHandle, useRef, type TextareaHTMLAttributes } from 'react';

export interface Problem {
  code: string;
  message: string;
  file?: string | null;
  row?: number | null;
  col?: number | null;
}

export interface CodeEditorHandle {
  goTo: (row: number, col: number) => void;
}

type Props = Omit<TextareaHTMLAttributes<HTMLTextAreaElement>, 'value' | 'onChange'> & {
  value: string;
  onChange: (v: string) => void;
  problems: Problem[];
  rows?: number;
};

export const CodeEditor = forwardRef<CodeEditorHandle, Props>(function CodeEditor({ value, onChange, problems, rows = 16, ...rest }, ref) {
  const area = useRef<HTMLTextAreaElement>(null);
  const gutter = useRef<HTMLDivElement>(null);
  const lines = value.split('\n').length;
  const bad = new Map<number, string>();
  for (const p of problems) if (p.row && !bad.has(p.row)) bad.set(p.row, p.message);

  useImperativeHandle(ref, () => ({
    goTo(row, col) {
      const t = area.current;
      if (!t) return;
      const src = t.value.split('\n');
      let pos = 0;
      for (let i = 0; i < Math.min(row - 1, src.length); i++) pos += src[i].length + 1;
      pos += Math.max(0, Math.min(col - 1, (src[row - 1] ?? '').length));
      t.focus();
      t.setSelectionRange(pos, pos);
      const lineHeight = parseFloat(getComputedStyle(t).lineHeight) || 20;
      t.scrollTop = Math.max(0, (row - 3) * lineHeight);
    },
  }));

  return (
    <div className="code-editor" style={{ ['--rows' as string]: rows }}>
      <div className="code-gutter" ref={gutter} aria-hidden="true">
        {Array.from({ length: lines }, (_, i) => (
          <div key={i} className={bad.has(i + 1) ? 'gutter-line gutter-bad' : 'gutter-line'} title={bad.get(i + 1)}>
            {i + 1}
          </div>
        ))}
      </div>
      <textarea
        ref={area}
        className="code-area"
        value={value}
        spellCheck={false}
        autoCapitalize="off"
        autoComplete="off"
        autoCorrect="off"
        wrap="off"
        onChange={(e) => onChange(e.target.value)}
        onScroll={(e) => {
          if (gutter.current) gutter.current.scrollTop = e.currentTarget.scrollTop;
        }}
        {...rest}
      />
    </div>
  );
});

/** The problems of one editor, each a button that moves the caret there. */
export function ProblemList({ problems, onPick, id }: { problems: Problem[]; onPick: (p: Problem) => void; id?: string }) {
  if (problems.length === 0) return null;
  return (
    <ul className="problems" id={id} aria-label="Problems">
      {problems.map((p, i) => (
        <li key={i}>
          <button type="button" className="problem" onClick={() => onPick(p)} disabled={!p.row}>
            <span className="problem-pos">{p.row ? `Line ${p.row}${p.col ? `, column ${p.col}` : ''}` : 'Module'}</span>
            <span className="problem-msg">{p.message}</span>
            <span className="problem-code">{p.code}</span>
          </button>
        </li>
      ))}
    </ul>
  );
}

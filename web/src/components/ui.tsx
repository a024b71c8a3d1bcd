/** The UI's small parts: status badges, buttons that say why they are disabled, dialogs, pagers. */
import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';

export function Status({ value }: { value: string }) {
  return (
    <span class={`status status-${value}`} data-status={value}>
      {value}
    </span>
  );
}

export function Progress({ value, label }: { value: number; label?: string }) {
  return (
    <span class="progress" title={label ?? `${value}%`}>
      <progress max={100} value={value} aria-label={label ?? 'progress'} />
      <span class="progress-figure">{value}%</span>
    </span>
  );
}

interface ActionProps {
  label: string;
  onClick: () => void;
  /** Why it cannot be used now (shown as its tooltip), or null when it can. */
  disabledBecause: string | null;
  kind?: 'primary' | 'danger' | 'plain';
  name?: string;
  hint?: string;
}

/** A button that, when it cannot be used, is disabled with a tooltip saying why. */
export function Action({ label, onClick, disabledBecause, kind = 'plain', name, hint }: ActionProps) {
  const disabled = disabledBecause !== null;
  // a disabled button gets no pointer events in Chromium: the tooltip sits on its wrapper
  return (
    <span class="action" title={disabled ? disabledBecause : (hint ?? label)} data-action={name}>
      <button type="button" class={kind} disabled={disabled} onClick={onClick} data-action={name}>
        {label}
      </button>
    </span>
  );
}

interface DialogProps {
  title: string;
  children: ComponentChildren;
  confirmLabel: string;
  kind?: 'primary' | 'danger';
  busy?: boolean;
  confirmDisabled?: boolean;
  onConfirm: () => void;
  onCancel: () => void;
}

/** A modal confirmation: Escape or Cancel closes it; nothing happens until its confirm button is pressed. */
export function Dialog(props: DialogProps) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
  }, []);
  return (
    <dialog
      ref={ref}
      class="dialog"
      aria-label={props.title}
      onCancel={(e) => {
        e.preventDefault();
        props.onCancel();
      }}
    >
      <h3>{props.title}</h3>
      <div class="dialog-body">{props.children}</div>
      <div class="dialog-buttons">
        <button type="button" onClick={props.onCancel} data-dialog="cancel">
          Cancel
        </button>
        <button
          type="button"
          class={props.kind ?? 'primary'}
          disabled={props.busy === true || props.confirmDisabled === true}
          onClick={props.onConfirm}
          data-dialog="confirm"
        >
          {props.busy === true ? 'Working…' : props.confirmLabel}
        </button>
      </div>
    </dialog>
  );
}

/** An error the service answered, with its message (and the fields it names). */
export function ErrorLine({ error, onClose }: { error: Error | null; onClose?: () => void }) {
  if (error === null) return null;
  return (
    <div class="error-line" role="alert">
      <span>{error.message}</span>
      {onClose && (
        <button type="button" class="link" onClick={onClose} aria-label="Dismiss">
          ×
        </button>
      )}
    </div>
  );
}

/**
 * The pager of a list read by markers (`X-Next-Marker`): the markers of the pages seen so far, the first
 * page's being none; back drops the last one, on follows the page's `next`.
 */
export function MarkerPager(props: {
  markers: (string | undefined)[];
  next: string | null | undefined;
  onMarkers: (markers: (string | undefined)[]) => void;
  back: string;
  on: string;
}) {
  const { markers, next, onMarkers } = props;
  return (
    <div class="pager">
      <button type="button" disabled={markers.length === 1} onClick={() => onMarkers(markers.slice(0, -1))}>
        ‹ {props.back}
      </button>
      <span>page {markers.length}</span>
      <button type="button" disabled={!next} onClick={() => next && onMarkers([...markers, next])}>
        {props.on} ›
      </button>
    </div>
  );
}

interface PagerProps {
  page: number;
  pages: number;
  onPage: (page: number) => void;
  label: string;
}

export function Pager({ page, pages, onPage, label }: PagerProps) {
  if (pages <= 1) return null;
  return (
    <nav class="pager" aria-label={label}>
      <button type="button" disabled={page === 0} onClick={() => onPage(page - 1)}>
        ‹ Previous
      </button>
      <span>
        page {page + 1} of {pages}
      </span>
      <button type="button" disabled={page >= pages - 1} onClick={() => onPage(page + 1)}>
        Next ›
      </button>
    </nav>
  );
}

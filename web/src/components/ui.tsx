/** The UI's small parts: status badges, buttons that say why they are disabled, dialogs, pagers. */
import type { ComponentChildren } from 'preact';
import { useEffect, useErrorBoundary, useId, useRef } from 'preact/hooks';
import { clock, type Live } from '../poll.js';

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
  /** Why it cannot be used now (its tooltip, and its description for the keyboard and screen readers), or null when it can. */
  disabledBecause: string | null;
  kind?: 'primary' | 'danger' | 'plain';
  name?: string;
  hint?: string;
}

/**
 * A button that, when it cannot be used, says why: it stays focusable (`aria-disabled`, the click is
 * ignored), its tooltip is the reason, and so is its description (`aria-describedby`), which is also
 * shown beside it while it has the keyboard's focus.
 */
export function Action({ label, onClick, disabledBecause, kind = 'plain', name, hint }: ActionProps) {
  const id = useId();
  const disabled = disabledBecause !== null;
  return (
    <span class="action" data-action={name}>
      <button
        type="button"
        class={kind}
        aria-disabled={disabled ? 'true' : undefined}
        aria-describedby={disabled ? id : undefined}
        title={disabled ? disabledBecause : (hint ?? label)}
        onClick={() => {
          if (!disabled) onClick();
        }}
        data-action={name}
      >
        {label}
      </button>
      {disabled && (
        <span id={id} class="why" data-why={name}>
          {disabledBecause}
        </span>
      )}
    </span>
  );
}

interface DialogProps {
  title: string;
  children: ComponentChildren;
  confirmLabel: string;
  kind?: 'primary' | 'danger';
  busy?: boolean;
  /** Why the confirm button cannot be pressed yet (shown under it), or null. */
  confirmDisabledBecause?: string | null;
  onConfirm: () => void;
  onCancel: () => void;
}

/**
 * A modal confirmation: Escape or Cancel closes it; nothing happens until its confirm button is pressed.
 * When it closes, the focus goes back to what had it (the button that opened it).
 */
export function Dialog(props: DialogProps) {
  const ref = useRef<HTMLDialogElement>(null);
  const whyId = useId();
  useEffect(() => {
    const dialog = ref.current;
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    if (dialog && !dialog.open) dialog.showModal();
    return () => {
      if (dialog?.open) dialog.close();
      if (opener?.isConnected) opener.focus();
    };
  }, []);
  const why = props.busy === true ? null : (props.confirmDisabledBecause ?? null);
  const blocked = props.busy === true || why !== null;
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
        {why !== null && (
          <span id={whyId} class="dialog-why" data-testid="confirm-why">
            {why}
          </span>
        )}
        <button type="button" onClick={props.onCancel} data-dialog="cancel">
          Cancel
        </button>
        <button
          type="button"
          class={props.kind ?? 'primary'}
          aria-disabled={blocked ? 'true' : undefined}
          aria-describedby={why !== null ? whyId : undefined}
          onClick={() => {
            if (!blocked) props.onConfirm();
          }}
          data-dialog="confirm"
        >
          {props.busy === true ? 'Working…' : props.confirmLabel}
        </button>
      </div>
    </dialog>
  );
}

/** An error the service answered, with its message; × dismisses it, Retry reads again. */
export function ErrorLine({
  error,
  onClose,
  onRetry,
  prefix,
  suffix,
}: {
  error: Error | null;
  onClose?: () => void;
  onRetry?: () => void;
  /** Words before and after the service's message. */
  prefix?: string;
  suffix?: string;
}) {
  if (error === null) return null;
  return (
    <div class="error-line" role="alert">
      <span>
        {prefix}
        {error.message}
        {suffix}
      </span>
      <span>
        {onRetry && (
          <button type="button" class="link" onClick={onRetry}>
            Retry
          </button>
        )}
        {onClose && (
          <button type="button" class="link" onClick={onClose} aria-label="Dismiss">
            ×
          </button>
        )}
      </span>
    </div>
  );
}

/**
 * What a live reading shows: its error when the newest reading failed, with the time of the reading
 * still on screen; the content (from that older reading) is then marked as not current.
 */
export function LiveView<T>({
  live,
  what,
  loading = 'Loading…',
  children,
}: {
  live: Live<T>;
  /** What is read, for the error: "the tasks". */
  what: string;
  loading?: string;
  children: (data: T) => ComponentChildren;
}) {
  if (live.data === undefined) {
    if (live.error)
      return <ErrorLine error={live.error} prefix={`Could not read ${what}: `} onRetry={live.refresh} />;
    return <p class="muted">{loading}</p>;
  }
  if (live.error === null) return <>{children(live.data)}</>;
  return (
    <>
      <StaleNote live={live} what={what} />
      <div class="stale" data-stale="true">
        {children(live.data)}
      </div>
    </>
  );
}

/** The line that says a reading failed: its error, and when what is still shown was read. */
export function StaleNote<T>({ live, what }: { live: Live<T>; what: string }) {
  if (live.error === null) return null;
  const when =
    live.at === null ? '' : `; what is shown below was read at ${clock(live.at)} and may be out of date`;
  return (
    <ErrorLine
      error={live.error}
      prefix={`Could not read ${what} (`}
      onRetry={live.refresh}
      suffix={`)${when}.`}
    />
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

/** A choice of one among a few views: buttons that say which is pressed (`aria-pressed`). */
export function Choice<T extends string>({
  value,
  options,
  onChange,
  label,
  small,
}: {
  value: T;
  options: readonly { value: T; label: string }[];
  onChange: (value: T) => void;
  label: string;
  small?: boolean;
}) {
  return (
    // biome-ignore lint/a11y/useSemanticElements: a group of toggle buttons, not a fieldset of inputs
    <div class={`tabs${small ? ' small' : ''}`} role="group" aria-label={label}>
      {options.map((o) => (
        <button
          key={o.value}
          type="button"
          aria-pressed={o.value === value}
          data-choice={o.value}
          onClick={() => onChange(o.value)}
        >
          {o.label}
        </button>
      ))}
    </div>
  );
}

/** What a part of the page does when drawing it throws: it says so (and can try again), the rest stays. */
export function Boundary({ what, children }: { what: string; children: ComponentChildren }) {
  const [error, reset] = useErrorBoundary();
  if (error) {
    return (
      <section class="card">
        <ErrorLine
          error={error instanceof Error ? error : new Error(String(error))}
          prefix={`Could not draw ${what}: `}
          onRetry={reset}
        />
      </section>
    );
  }
  return <>{children}</>;
}

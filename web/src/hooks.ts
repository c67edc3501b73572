import { useCallback, useEffect, useRef, useState } from "react";

export interface Loaded<T> {
  data: T | undefined;
  error: string | null;
  loading: boolean;
  reload: () => void;
}

/**
 * Runs `load` on mount and when `deps` (plain values) change; the latest call wins.
 * While a new load runs, the previous data stays visible with `loading` true.
 */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [tick, setTick] = useState(0);
  const key = JSON.stringify([...deps, tick]);
  const [result, setResult] = useState<{ key: string | null; data: T | undefined; error: string | null }>({
    key: null,
    data: undefined,
    error: null,
  });
  useEffect(() => {
    let current = true;
    load().then(
      (value) => {
        if (current) setResult({ key, data: value, error: null });
      },
      (err: unknown) => {
        if (current) setResult((previous) => ({ key, data: previous.data, error: err instanceof Error ? err.message : String(err) }));
      },
    );
    return () => {
      current = false;
    };
    // `load` is a fresh closure on every render; like useEffect, the caller names what it depends on.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data: result.data, error: result.error, loading: result.key !== key, reload };
}

/** Moves focus to the page's heading when it mounts, so screen readers announce the new page. */
export function usePageFocus<T extends HTMLElement>() {
  const ref = useRef<T>(null);
  useEffect(() => {
    ref.current?.focus();
  }, []);
  return ref;
}

// @vitest-environment jsdom
import { act, renderHook, waitFor } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { useLoad } from "./hooks";

function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe("useLoad", () => {
  it("loads, then reloads keeping the old data visible meanwhile", async () => {
    let n = 0;
    const { result } = renderHook(() => useLoad(async () => ++n, []));
    expect(result.current.loading).toBe(true);
    await waitFor(() => expect(result.current.data).toBe(1));
    expect(result.current.loading).toBe(false);
    act(() => result.current.reload());
    expect(result.current.loading).toBe(true);
    expect(result.current.data).toBe(1);
    await waitFor(() => expect(result.current.data).toBe(2));
    expect(result.current.loading).toBe(false);
  });

  it("lets the latest call win when the dependencies change", async () => {
    const slow = deferred<string>();
    const fast = deferred<string>();
    const { result, rerender } = renderHook(({ id }) => useLoad(() => (id === "a" ? slow.promise : fast.promise), [id]), {
      initialProps: { id: "a" },
    });
    rerender({ id: "b" });
    fast.resolve("b's data");
    await waitFor(() => expect(result.current.data).toBe("b's data"));
    slow.resolve("a's data");
    await act(() => slow.promise);
    expect(result.current.data).toBe("b's data");
    expect(result.current.loading).toBe(false);
  });

  it("reports an error as a sentence", async () => {
    const { result } = renderHook(() => useLoad(() => Promise.reject(new Error("The API is down.")), []));
    await waitFor(() => expect(result.current.error).toBe("The API is down."));
    expect(result.current.loading).toBe(false);
  });
});

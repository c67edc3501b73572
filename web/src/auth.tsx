import { createContext, useContext, useEffect, useMemo, useSyncExternalStore, type ReactNode } from "react";
import { type ApiClient, makeClient } from "./api/client";
import { AuthSession } from "./api/session";

interface Api {
  session: AuthSession;
  client: ApiClient;
}

const ApiContext = createContext<Api | null>(null);

export function ApiProvider({
  children,
  session,
  baseUrl,
}: {
  children: ReactNode;
  session?: AuthSession;
  baseUrl?: string;
}) {
  const api = useMemo(() => {
    const s = session ?? new AuthSession();
    return { session: s, client: makeClient(s, baseUrl) };
  }, [session, baseUrl]);
  // A reload: the HttpOnly refresh cookie may still hold a session.
  useEffect(() => {
    void api.session.restore();
  }, [api]);
  return <ApiContext.Provider value={api}>{children}</ApiContext.Provider>;
}

export function useApi(): Api {
  const api = useContext(ApiContext);
  if (!api) throw new Error("useApi outside ApiProvider");
  return api;
}

/** Re-renders when the user signs in or out (or a refresh fails). */
export function useSignedIn(): boolean {
  const { session } = useApi();
  return useSyncExternalStore(
    (listener) => session.subscribe(listener),
    () => session.signedIn,
  );
}

/** True while the session is being restored from the refresh cookie after a reload. */
export function useSessionPending(): boolean {
  const { session } = useApi();
  return useSyncExternalStore(
    (listener) => session.subscribe(listener),
    () => session.pending,
  );
}

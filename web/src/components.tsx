import type { ReactNode } from "react";
import { NavLink } from "react-router";
import { formatMoney } from "./format";
import { usePageFocus } from "./hooks";

export function PageTitle({ children }: { children: ReactNode }) {
  const ref = usePageFocus<HTMLHeadingElement>();
  return (
    <h1 ref={ref} tabIndex={-1}>
      {children}
    </h1>
  );
}

export function ErrorMessage({ message }: { message: string | null | undefined }) {
  if (!message) return null;
  return (
    <p className="error" role="alert">
      {message}
    </p>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p role="status" className="muted">
      Loading {what}…
    </p>
  );
}

export function Money({ amount, currency = "USD" }: { amount: number; currency?: string }) {
  return <span className="money">{formatMoney(amount, currency)}</span>;
}

/** The tabs of one account's pages. */
export function AccountNav({ accountId }: { accountId: string }) {
  const base = `/accounts/${encodeURIComponent(accountId)}`;
  return (
    <nav aria-label="Account" className="tabs">
      <ul>
        <li>
          <NavLink to="/" end>
            Overview
          </NavLink>
        </li>
        <li>
          <NavLink to={`${base}/transactions`}>Transactions</NavLink>
        </li>
        <li>
          <NavLink to={`${base}/card`}>Card</NavLink>
        </li>
        <li>
          <NavLink to={`${base}/statements`}>Statements</NavLink>
        </li>
        <li>
          <NavLink to={`${base}/payments`}>Payments</NavLink>
        </li>
      </ul>
    </nav>
  );
}

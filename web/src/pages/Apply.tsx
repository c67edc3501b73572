import { type FormEvent, useState } from "react";
import { Link } from "react-router";
import { type Schemas, unwrap } from "../api/client";
import { useApi } from "../auth";
import { ErrorMessage, Money, PageTitle } from "../components";
import { formatRate, parseDollars } from "../format";

type Application = Schemas["ApplicationOut"];
type Employment = Schemas["ApplicationIn"]["employment_status"];

const EMPLOYMENT: { value: Employment; label: string }[] = [
  { value: "employed", label: "Employed" },
  { value: "self_employed", label: "Self-employed" },
  { value: "retired", label: "Retired" },
  { value: "student", label: "Student" },
  { value: "unemployed", label: "Not employed" },
];

const STATUS_TEXT: Record<Application["status"], string> = {
  approved: "Approved",
  declined: "Not approved",
  manual_review: "In review",
};

export function Apply() {
  const { client } = useApi();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [decision, setDecision] = useState<Application | null>(null);

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const annual_income = parseDollars(String(form.get("annual_income")));
    const monthly_housing_payment = parseDollars(String(form.get("monthly_housing_payment")));
    const requestedText = String(form.get("requested_credit_limit") ?? "").trim();
    const requested_credit_limit = requestedText ? parseDollars(requestedText) : null;
    if (annual_income === null || monthly_housing_payment === null) {
      setError("Enter amounts in dollars, like 72000 or 1,250.00.");
      return;
    }
    if (requestedText && requested_credit_limit === null) {
      setError("Enter the credit limit you would like in dollars, like 5000.");
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const application = await unwrap(
        client.POST("/v1/applications", {
          body: {
            annual_income,
            monthly_housing_payment,
            employment_status: String(form.get("employment_status")) as Employment,
            date_of_birth: String(form.get("date_of_birth")),
            requested_credit_limit,
          },
        }),
      );
      setDecision(application);
    } catch (err) {
      setError(err instanceof Error ? err.message : "The application could not be sent.");
    } finally {
      setBusy(false);
    }
  }

  if (decision) return <Decision application={decision} />;

  return (
    <section className="narrow">
      <PageTitle>Apply for a card</PageTitle>
      <p>We decide at once. Amounts are in US dollars.</p>
      <form onSubmit={submit} className="stack">
        <label>
          Annual income, before tax
          <input name="annual_income" inputMode="decimal" required placeholder="72000" />
        </label>
        <label>
          Monthly rent or mortgage
          <input name="monthly_housing_payment" inputMode="decimal" required placeholder="1200" />
        </label>
        <label>
          Employment
          <select name="employment_status" defaultValue="employed">
            {EMPLOYMENT.map((e) => (
              <option key={e.value} value={e.value}>
                {e.label}
              </option>
            ))}
          </select>
        </label>
        <label>
          Date of birth
          <input name="date_of_birth" type="date" required min="1900-01-01" />
        </label>
        <label>
          Credit limit you would like (optional)
          <input name="requested_credit_limit" inputMode="decimal" placeholder="5000" aria-describedby="limit-hint" />
        </label>
        <p id="limit-hint" className="hint">
          At least $300. Leave empty and we offer what we can.
        </p>
        <ErrorMessage message={error} />
        <button type="submit" disabled={busy}>
          {busy ? "Deciding…" : "Apply"}
        </button>
      </form>
    </section>
  );
}

function Decision({ application }: { application: Application }) {
  return (
    <section className="narrow">
      <PageTitle>Your application: {STATUS_TEXT[application.status]}</PageTitle>
      <div className={`decision decision-${application.status}`} role="status">
        {application.status === "approved" && application.credit_limit !== null && (
          <p>
            You have a credit limit of <Money amount={application.credit_limit} />
            {application.apr_bps !== null && <> at an APR of {formatRate(application.apr_bps)}</>}. Your card is on
            its way.
          </p>
        )}
        {application.status === "declined" && <p>We cannot offer you a card at this time.</p>}
        {application.status === "manual_review" && (
          <p>A member of our team will look at your application and decide soon.</p>
        )}
        {application.reason_details.length > 0 && (
          <>
            <h2>{application.status === "approved" ? "What we considered" : "Why"}</h2>
            <ul>
              {application.reason_details.map((reason) => (
                <li key={reason.code}>{reason.description}</li>
              ))}
            </ul>
          </>
        )}
      </div>
      {application.account_id ? (
        <p>
          <Link to="/" className="button">
            See your account
          </Link>
        </p>
      ) : (
        <p>
          <Link to="/">Back to the overview</Link>
        </p>
      )}
    </section>
  );
}

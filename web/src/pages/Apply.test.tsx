// @vitest-environment jsdom
import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { fakeApi, json, renderPage } from "../test/render";
import { Apply } from "./Apply";

const DECLINED = {
  id: "app_1",
  status: "declined",
  credit_limit: null,
  apr_bps: null,
  reasons: ["low_credit_score", "high_debt_to_income"],
  reason_details: [
    { code: "low_credit_score", description: "Your credit score is below what we need." },
    { code: "high_debt_to_income", description: "Your housing costs are high for your income." },
  ],
  account_id: null,
  created_at: "2026-01-05T10:00:00Z",
};

async function fill(user: ReturnType<typeof userEvent.setup>, income: string) {
  await user.type(screen.getByLabelText("Annual income, before tax"), income);
  await user.type(screen.getByLabelText("Monthly rent or mortgage"), "2,500");
  await user.selectOptions(screen.getByLabelText("Employment"), "self_employed");
  await user.type(screen.getByLabelText("Date of birth"), "1990-02-03");
  await user.type(screen.getByLabelText(/Credit limit you would like/), "4000");
  await user.click(screen.getByRole("button", { name: "Apply" }));
}

describe("Apply", () => {
  it("shows a decline with each reason in plain words", async () => {
    const api = fakeApi({ "POST /v1/applications": () => json(DECLINED, 201) });
    renderPage(<Apply />, api);
    const user = userEvent.setup();
    await fill(user, "30,000");
    expect(await screen.findByRole("heading", { name: "Your application: Not approved" })).toBeInTheDocument();
    expect(screen.getByRole("heading", { name: "Why" })).toBeInTheDocument();
    const reasons = screen.getAllByRole("listitem").map((li) => li.textContent);
    expect(reasons).toEqual([
      "Your credit score is below what we need.",
      "Your housing costs are high for your income.",
    ]);
    expect(screen.getByRole("link", { name: "Back to the overview" })).toBeInTheDocument();
    // Dollars typed, cents sent.
    expect(JSON.parse(api.seen[0]!.body)).toEqual({
      annual_income: 3_000_000,
      monthly_housing_payment: 250_000,
      employment_status: "self_employed",
      date_of_birth: "1990-02-03",
      requested_credit_limit: 400_000,
    });
  });

  it("shows an approval with the limit and rate", async () => {
    const approved = { ...DECLINED, status: "approved", credit_limit: 400_000, apr_bps: 2199, reasons: [], reason_details: [], account_id: "acct_1" };
    renderPage(<Apply />, fakeApi({ "POST /v1/applications": () => json(approved, 201) }));
    await fill(userEvent.setup(), "95000");
    expect(await screen.findByRole("heading", { name: "Your application: Approved" })).toBeInTheDocument();
    expect(screen.getByRole("status")).toHaveTextContent("$4,000.00");
    expect(screen.getByRole("status")).toHaveTextContent("21.99%");
    expect(screen.getByRole("link", { name: "See your account" })).toBeInTheDocument();
  });

  it("refuses an amount that is not dollars without calling the API", async () => {
    const api = fakeApi({});
    renderPage(<Apply />, api);
    await fill(userEvent.setup(), "lots");
    expect(await screen.findByRole("alert")).toHaveTextContent("Enter amounts in dollars");
    expect(api.seen).toHaveLength(0);
  });
});

import { BrowserRouter, Navigate, NavLink, Outlet, Route, Routes, useLocation, useNavigate } from "react-router";
import { ApiProvider, useApi, useSessionPending, useSignedIn } from "./auth";
import { Loading } from "./components";
import { Apply } from "./pages/Apply";
import { CardPage } from "./pages/Card";
import { Overview } from "./pages/Overview";
import { Payments } from "./pages/Payments";
import { SignIn } from "./pages/SignIn";
import { SignUp } from "./pages/SignUp";
import { Statements } from "./pages/Statements";
import { Transactions } from "./pages/Transactions";

export function App() {
  return (
    <ApiProvider>
      <BrowserRouter basename="/app">
        <Routes>
          <Route element={<Layout />}>
            <Route path="signin" element={<SignIn />} />
            <Route path="signup" element={<SignUp />} />
            <Route element={<RequireSignIn />}>
              <Route index element={<Overview />} />
              <Route path="apply" element={<Apply />} />
              <Route path="accounts/:accountId/transactions" element={<Transactions />} />
              <Route path="accounts/:accountId/card" element={<CardPage />} />
              <Route path="accounts/:accountId/statements" element={<Statements />} />
              <Route path="accounts/:accountId/payments" element={<Payments />} />
            </Route>
            <Route path="*" element={<Navigate to="/" replace />} />
          </Route>
        </Routes>
      </BrowserRouter>
    </ApiProvider>
  );
}

function RequireSignIn() {
  const signedIn = useSignedIn();
  const pending = useSessionPending();
  const location = useLocation();
  if (!signedIn && pending) return <Loading what="your session" />;
  if (!signedIn) return <Navigate to="/signin" replace state={{ from: location.pathname }} />;
  return <Outlet />;
}

function Layout() {
  const signedIn = useSignedIn();
  const { session } = useApi();
  const navigate = useNavigate();
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="site-header">
        <div className="wrap header-row">
          <NavLink to="/" className="brand">
            cardportal
          </NavLink>
          <nav aria-label="Main">
            <ul>
              {signedIn ? (
                <>
                  <li>
                    <NavLink to="/" end>
                      Overview
                    </NavLink>
                  </li>
                  <li>
                    <NavLink to="/apply">Apply</NavLink>
                  </li>
                  <li>
                    <button
                      type="button"
                      className="link-button"
                      onClick={async () => {
                        await session.signOut();
                        navigate("/signin");
                      }}
                    >
                      Sign out
                    </button>
                  </li>
                </>
              ) : (
                <>
                  <li>
                    <NavLink to="/signin">Sign in</NavLink>
                  </li>
                  <li>
                    <NavLink to="/signup">Sign up</NavLink>
                  </li>
                </>
              )}
            </ul>
          </nav>
        </div>
      </header>
      <main id="main" className="wrap" tabIndex={-1}>
        <Outlet />
      </main>
    </>
  );
}

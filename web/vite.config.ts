/// <reference types="vitest/config" />
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// The API serves the built app at /app; `npm run dev` proxies /v1 to a running API
// (CARDPORTAL_API, default http://127.0.0.1:8000), so the browser sees one origin either way.
const api = process.env.CARDPORTAL_API ?? "http://127.0.0.1:8000";

export default defineConfig({
  base: "/app/",
  plugins: [react()],
  server: {
    // changeOrigin stays false: the API compares the browser's Origin with the Host it
    // sees before it honours the refresh cookie (api/auth/cookies.py).
    proxy: { "/v1": { target: api, changeOrigin: false } },
  },
  build: { sourcemap: false, target: "es2022" },
  test: {
    environment: "node",
    include: ["src/**/*.test.{ts,tsx}"],
    setupFiles: ["src/test/setup.ts"],
  },
});

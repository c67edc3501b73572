from fastapi.testclient import TestClient


def test_healthz_answers_with_a_request_id(api: TestClient) -> None:
    response = api.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["x-request-id"]


def test_readyz_checks_the_database(api: TestClient) -> None:
    response = api.get("/readyz")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"

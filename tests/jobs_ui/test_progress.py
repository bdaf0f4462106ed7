"""Job progress is readable from the screens, from the database row any web process can read."""
from __future__ import annotations

from jobs.queue import enqueue


def test_operator_reads_progress_of_a_finished_job(app, world, client_as):
    with app.app_context():
        run = enqueue("jobs.demo_tasks.count_customers")  # inline: no REDIS_URL in tests
        run_id = run.id
    client = client_as("operator")
    progress = client.get(f"/jobs/progress/{run_id}")
    assert progress.status_code == 200
    assert progress.json["status"] == "finished"
    assert progress.json["percent"] == 100
    assert progress.json["done"] == progress.json["total"] >= 3
    listing = client.get("/jobs/list/").get_data(as_text=True)
    assert "jobs.demo_tasks.count_customers" in listing


def test_progress_of_unknown_job_is_404(client_as, world):
    assert client_as("operator").get("/jobs/progress/999999").status_code == 404


def test_roles_without_job_screens_cannot_read_progress(app, world, client_as):
    with app.app_context():
        run_id = enqueue("jobs.demo_tasks.count_customers").id
    response = client_as("teller1").get(f"/jobs/progress/{run_id}")
    assert response.status_code in (302, 403, 404)
    assert b"count_customers" not in response.data

"""`brainmets users` and `brainmets serve` commands, and the demo seed."""

from __future__ import annotations

from typer.testing import CliRunner

from brainmets.cli import app


def test_users_add_prints_token_once_and_stores_hash(tmp_path):
    r = CliRunner().invoke(app, ["users", "add", "dr-x", "--role", "clinician",
                                 "--data-dir", str(tmp_path)])
    assert r.exit_code == 0, r.output
    token = r.stdout.strip().splitlines()[0]
    assert token.startswith("bm_")
    db = (tmp_path / "registry.sqlite3").read_bytes()
    assert token.encode() not in db  # only the hash is stored
    from brainmets.store import open_store, repo

    st = open_store(None, tmp_path)
    with st.session() as s:
        assert repo.user_by_token(s, token).role == "clinician"
    st.dispose()
    listed = CliRunner().invoke(app, ["users", "list", "--data-dir", str(tmp_path)])
    assert "dr-x\tclinician\tactive" in listed.stdout and token not in listed.stdout
    r = CliRunner().invoke(app, ["users", "revoke", "dr-x", "--data-dir", str(tmp_path)])
    assert r.exit_code == 0


def test_users_bad_input_exits_2_without_traceback(tmp_path):
    r = CliRunner().invoke(app, ["users", "add", "x", "--role", "root",
                                 "--data-dir", str(tmp_path)])
    assert r.exit_code == 2 and "role: expected clinician|researcher|admin" in r.output
    assert "Traceback" not in r.output
    CliRunner().invoke(app, ["users", "add", "x", "--role", "admin", "--data-dir", str(tmp_path)])
    r = CliRunner().invoke(app, ["users", "add", "x", "--role", "admin",
                                 "--data-dir", str(tmp_path)])
    assert r.exit_code == 2 and "already exists" in r.output
    r = CliRunner().invoke(app, ["users", "revoke", "nobody", "--data-dir", str(tmp_path)])
    assert r.exit_code == 2


def test_serve_rejects_unreachable_database(tmp_path):
    r = CliRunner().invoke(app, ["serve", "--database-url", "nosuchdb://x",
                                 "--data-dir", str(tmp_path)])
    assert r.exit_code == 2 and "database" in r.output and "Traceback" not in r.output


def test_demo_seed_with_scan(tmp_path, helpers):
    from brainmets.service.demo import seed
    from brainmets.store import open_store

    st = open_store(None, tmp_path)
    mri = helpers.tiny_nifti(tmp_path / "t.nii.gz")
    info = seed(st, mri=mri, scan_fn=helpers.fake_scan)
    assert info["token"].startswith("bm_") and info["scan_status"] == "done"
    again = seed(st)  # re-seeding rotates the demo token and adds a patient
    assert again["token"] != info["token"] and again["scan_id"] is None
    api = helpers.make_api(st)
    r = api.client.get(f"/api/patients/{info['patient_id']}/assessment",
                       headers={"Authorization": f"Bearer {again['token']}"})
    assert r.status_code == 200
    from brainmets.service.demo import write_pdf

    pdf = write_pdf(st, info["patient_id"], tmp_path / "out" / "report.pdf")
    assert pdf.read_bytes()[:5] == b"%PDF-"
    st.dispose()

"""brainmets.service: the clinician service (FastAPI + uvicorn; ``brainmets serve``).

REST API (OpenAPI at ``/openapi.json``, docs at ``/docs``); every path but ``/health`` needs
``Authorization: Bearer <token>`` (tokens from ``brainmets users add NAME --role ROLE``)::

    GET  /health                                   liveness + software/knowledge-base versions
    GET  /api/patients                             patients the token may read
    POST /api/patients                             CONTRACT §1 JSON or FHIR R4B Bundle -> {"id"}
    GET  /api/patients/{id}                        record, version, scans
    PUT  /api/patients/{id}                        replace the record (JSON or Bundle)
    GET  /api/patients/{id}/assessment             CONTRACT §2 JSON
    GET  /api/patients/{id}/response               response time line (+ RANO-BM)
    POST /api/patients/{id}/scans                  multipart file (NIfTI or zip of one DICOM
                                                   series), date -> 202 {"job", "status"}
    GET  /api/jobs/{job}                           scan job status (queued|running|done|failed)
    GET  /api/patients/{id}/labelmap.nii.gz        latest scan's lesion label map
    GET  /api/patients/{id}/seg.dcm                latest scan's DICOM SEG (DICOM input)
    GET  /api/patients/{id}/scans/{scan}/{name}    lesions.nii.gz | volume.nii.gz |
                                                   overlay.png | lesions.json | seg.dcm
    GET  /api/patients/{id}/report.pdf             tumour-board PDF (WeasyPrint)
    GET  /api/patients/{id}/fhir                   FHIR R4B DiagnosticReport (validated)
    GET  /api/patients/{id}/audit                  the patient's audit trail (admin only)

Web UI (same tokens, via an HttpOnly SameSite=Strict cookie set at ``/login``): ``/patients``,
``/patients/new``, ``/patients/{id}`` (NiiVue viewer, lesions, prognosis, options, time line),
``/patients/{id}/edit``. Static assets (``/static``, vendored NiiVue and htmx) and the login
page need no token; they hold no patient data.

Roles: clinician (reads/writes own patients), researcher (reads all, de-identified, no
writes), admin (everything). Every request touching patient data writes an audit row (who,
what, when, outcome) before the response leaves. Environment: ``BRAINMETS_DATA_DIR``,
``BRAINMETS_DATABASE_URL``, ``BRAINMETS_MAX_UPLOAD_MB`` (512), ``BRAINMETS_MAX_UNZIPPED_MB``
(2048), ``BRAINMETS_SECURE_COOKIES=1`` behind HTTPS.
"""

"""What the fake Wolkvox serves: sample answers, the campaigns of its operations, web pages.

Standard library only. The samples are the bodies of ``tests/data/samples/*.json`` held as
Python data (a test pins them byte for byte against the files), each with the HTTP status of
the samples README.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

JSON_TYPE = "application/json; charset=utf-8"
HTML_TYPE = "text/html; charset=UTF-8"
STARTED = "Started"
STOPPED = "Stopped"


@dataclass(frozen=True, slots=True)
class Sample:
    """One whole response of ``information.php?api=campaigns``: its HTTP status and JSON body."""

    status: int
    document: object

    def body(self) -> bytes:
        """The body exactly as the sample file has it (4-space indent, raw UTF-8, final newline)."""
        return (json.dumps(self.document, indent=4, ensure_ascii=False) + "\n").encode()


FIELDS = (
    "campaign_id", "campaign_name", "campaign_description", "type_campaign", "status", "records",
    "speed", "dial_mode", "last_use", "recycled", "turbo_dial", "skill_id",
)  # fmt: skip
"""The fields of a campaign row, in Wolkvox's order."""


def _rows(*values: tuple[str, ...]) -> list[dict[str, str]]:
    return [dict(zip(FIELDS, row, strict=True)) for row in values]


def _envelope(code: object, error: object, msg: str, data: object = None) -> dict[str, object]:
    document: dict[str, object] = {"code": code, "error": error, "msg": msg}
    if data is not None:
        document["data"] = data
    return document


_DASH = "\u2013"  # the en dash of "phone1 \u2013 ring: 45(seg)", as Wolkvox writes it

# fmt: off
SAMPLES: Mapping[str, Sample] = MappingProxyType({
    "ok_three_campaigns": Sample(200, _envelope("200", None, "3 records were found", _rows(
        ("10452", "Renovaciones Q3", "Predictive outbound for plan renewals", "predictive",
         STARTED, "12500", "35", "autopilot", "2025-03-14 09:42:17", "2", "no", "3071"),
        ("10453", "Cobranza Temprana", "Early-stage collections, two phones per record",
         "predictive", STOPPED, "48210", "60", f"phone1 {_DASH} ring: 45(seg)",
         "2025-03-13 18:05:02", "0", "yes", "3072"),
        ("9817", "Encuesta Satisfacción", " ", "preview", STOPPED, "640", "0", "strategy",
         "2025-02-27 11:20:45", "1", "no", "3075"),
    ))),
    "ok_code_empty_string": Sample(200, _envelope("", None, "1 records were found", _rows(
        ("31007", "Venta Cruzada Hogar", " ", "predictive", STOPPED, "15000", "50",
         f"phone1 {_DASH} ring: 60(seg)", "2025-03-12 19:59:58", "1", "no", "3301"),
    ))),
    "ok_code_int_error_string_null": Sample(200, _envelope(
        200, "null", "1 records were found", _rows(
        ("22870", "Bienvenida Clientes Nuevos", "Welcome calls", "predictive", STARTED, "3150",
         "100", f"phone2 {_DASH} ring: 30(seg)", "2025-03-14 10:01:59", "5", "yes", "4102"),
        ))),
    "empty_result_200_empty_array": Sample(200, _envelope("200", None, "0 records were found", [])),
    "empty_result_404_validate_dates": Sample(404, _envelope(
        404, "NOT FOUND", "Validate dates entered")),
    "error_missing_token": Sample(401, _envelope(
        401, "UNAUTHORIZED", "PLEASE ENTER THE WOLKVOX-TOKEN")),
    "error_invalid_token": Sample(403, _envelope(403, "FORBIDDEN", "PLEASE VALIDATE TOKEN")),
    "error_token_concurrency": Sample(403, _envelope(
        "403", "FORBIDDEN", "EXCEEDS THE LIMIT OF SIMULTANEOUS REQUESTS PER TOKEN (2)", [])),
    "error_daily_quota_exceeded": Sample(403, _envelope(403, "FORBIDDEN", "TOKEN LIMIT EXCEEDED")),
    "error_unknown_api": Sample(400, _envelope(
        400, "BAD REQUEST", "THE API YOU WANT TO CONSULT DOES NOT EXIST")),
})

#: A small Colombian operation (Bogota time): three campaigns dialing, three idle, one never
#: used. 20517 has a short list: at its speed it runs out within the hour and is reloaded.
DEFAULT_CAMPAIGNS: tuple[Mapping[str, str], ...] = tuple(_rows(
    ("20481", "Cobranza Preventiva Bogotá", "Recordatorio de pago antes del vencimiento",
     "predictive", STARTED, "18450", "40", "autopilot", "2025-03-14 09:42:17", "3", "no", "4101"),
    ("20482", "Renovación Pólizas Auto", "Renovaciones del trimestre, dos teléfonos por registro",
     "predictive", STARTED, "9320", "65", f"phone1 {_DASH} ring: 45(seg)", "2025-03-14 09:40:03",
     "1", "yes", "4102"),
    ("3917", "Encuesta de Satisfacción Post-Venta", "NPS a clientes atendidos la semana pasada",
     "preview", STOPPED, "640", "0", "strategy", "2025-02-27 11:20:45", "0", "no", "3075"),
    ("20517", "Venta Cruzada Tarjeta Oro", "Oferta a clientes con buen historial",
     "progressive", STARTED, "320", "30", f"phone2 {_DASH} ring: 30(seg)", "2025-03-14 09:38:51",
     "0", "no", "5210"),
    ("11864", "Recuperación Cartera Mora 30", "Cartera vencida de 30 a 60 días", "predictive",
     STOPPED, "27800", "80", "autopilot", "2025-03-13 18:05:02", "2", "yes", "4107"),
    ("21003", "Campaña Navidad Clientes Nuevos", " ", "preview", STOPPED, "1200", "0",
     "strategy", "", "0", "no", "5230"),
))
#: The campaigns of `DEFAULT_CAMPAIGNS` a supervisor keeps dialing: never stopped by chance.
STEADY = frozenset({"20481", "20482"})

#: A small Mexican operation (Mexico City time), with ids of its own.
MEXICO_CAMPAIGNS: tuple[Mapping[str, str], ...] = tuple(_rows(
    ("30114", f"Venta Cruzada Tarjeta Oro {_DASH} CDMX", "Oferta a clientes de México",
     "progressive", STARTED, "5210", "30", f"phone2 {_DASH} ring: 30(seg)",
     "2025-03-14 08:38:51", "0", "no", "6210"),
    ("30115", "Cobranza Temprana Monterrey", "Mora temprana, recordatorio amable", "predictive",
     STARTED, "12040", "55", "autopilot", "2025-03-14 08:51:10", "4", "yes", "6211"),
    ("30120", f"Campaña Año Nuevo {_DASH} Monterrey", " ", "preview", STOPPED, "1200", "0",
     "strategy", "", "0", "no", "6230"),
    ("30131", "Encuesta NPS Guadalajara", "Satisfacción después de la instalación", "preview",
     STOPPED, "800", "10", "strategy", "2025-03-12 17:45:00", "0", "no", "6240"),
))
MEXICO_STEADY = frozenset({"30115"})
# fmt: on

#: The vendor's answer to a request without ``api=``; not among the samples.
MISSING_PARAMETERS = Sample(400, _envelope(400, "BAD REQUEST", "SOME PARAMETERS ARE REQUIRED"))

NOT_FOUND_PAGE = b"""<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">
<html><head>
<title>404 Not Found</title>
</head><body>
<h1>Not Found</h1>
<p>The requested URL was not found on this server.</p>
</body></html>
"""

#: What a 200 from something that is not the API looks like (a portal, a captive page).
MAINTENANCE_PAGE = b"""<!DOCTYPE html>
<html lang="es"><head><meta charset="utf-8"><title>wolkvox</title></head>
<body><h1>Estamos en mantenimiento</h1>
<p>Volveremos en unos minutos. Gracias por su paciencia.</p></body></html>
"""


def error_page(status: int, reason: str) -> bytes:
    """The HTML error page of a proxy (nginx style) for ``status``, e.g. ``502 Bad Gateway``."""
    title = f"{status} {reason}".strip()
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n"
        "</body>\r\n</html>\r\n"
    ).encode()


def success_document(rows: list[dict[str, object]]) -> dict[str, object]:
    """The envelope of a successful campaigns answer holding ``rows``."""
    return _envelope("200", None, f"{len(rows)} records were found", rows)

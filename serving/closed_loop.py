"""The closed loop in the service: which variant answers, what was shown, what came of it.

:class:`ClosedLoop` ties together the experiments (serving/experiments.py), the impression and
outcome logs (serving/record_log.py) and the live attribution metrics
(serving/attribution.py). Routes call three methods:

- :meth:`ClosedLoop.choose` before answering: the variant of the session, and what serves it;
- :meth:`ClosedLoop.answered` after: a recommendation id, the impression queued for its log,
  the answer remembered for attribution, the metrics counted;
- :meth:`ClosedLoop.outcomes` for posted events: clicks, carts and purchases attributed and
  counted, and (files sink) logged for the report.

None of it can fail or slow an answer: logs are bounded queues drained by a thread, and
labels come from the experiments config (a closed set).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

from engine.errors import DataError
from engine.experiments.config import DEFAULT_VARIANT, Experiment
from engine.recommender import Recommendation
from serving.api_metrics import ApiMetrics
from serving.attribution import Arm, LiveAttribution
from serving.events import OUTCOME_TYPES, ViewEvent
from serving.experiments import Choice, Experiments
from serving.impressions import forget_record, impression_record, new_recommendation_id
from serving.log_sinks import JsonLinesFiles, KafkaTopic
from serving.model_manager import ModelManager
from serving.record_log import RecordLog
from serving.settings import Settings

log = logging.getLogger("nowrec.loop")

#: Label of answers outside any experiment.
NO_EXPERIMENT = "none"
#: Session ids of the console's try-out (serving/console/routes.py): an operator clicking
#: through the console sees the served model and never counts in an experiment's report.
CONSOLE_SESSION_PREFIX = "console-"
#: Sessions remembered as "already counted" for nowrec_experiment_sessions_total.
SEEN_SESSIONS = 200_000
#: Sessions per variant before the sample-ratio check is computed.
SRM_MIN_SESSIONS = 100
#: Seconds a report computed from the local logs is served again before it is recomputed.
REPORT_CACHE_S = 5.0


def _sink_kind(settings: Settings) -> str:
    if settings.record_sink != "auto":
        return settings.record_sink
    return "kafka" if settings.events_mode == "kafka" else "files"


def make_logs(settings: Settings, metrics: ApiMetrics) -> tuple[RecordLog | None, RecordLog | None]:
    """(impressions, outcomes) record logs for the configured sink; outcomes is None where
    the events already reach the report another way (the Kafka events topic)."""
    kind = _sink_kind(settings)
    if kind == "off":
        return None, None

    def record_log(sink) -> RecordLog:
        return RecordLog(
            sink,
            max_queue=settings.record_queue_size,
            on_drop=metrics.records_dropped.labels(sink.name).inc,
            on_written=metrics.records_written.labels(sink.name).inc,
        )

    if kind == "kafka":
        topic = KafkaTopic(settings.kafka_client_options(), settings.kafka_impressions_topic,
                           timeout_s=settings.kafka_request_timeout_ms / 1000)  # fmt: skip
        return record_log(topic), None
    root = Path(settings.logs_dir)
    files = {
        "rotate_bytes": settings.log_rotate_bytes,
        "rotate_s": settings.log_rotate_s,
        "retention_days": settings.log_retention_days,
    }
    return (
        record_log(JsonLinesFiles(root / "impressions", "impressions", **files)),
        record_log(JsonLinesFiles(root / "events", "events", **files)),
    )


class ClosedLoop:
    """Experiments, impressions, outcomes and their metrics (see the module docstring).

    Args:
        settings: the service's settings.
        models: the main model.
        metrics: the API metrics.
    """

    def __init__(self, settings: Settings, models: ModelManager, metrics: ApiMetrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.experiments = Experiments(
            models, settings.experiments_file, metrics,
            allocation_path=settings.experiments_allocation_file,
        )  # fmt: skip
        self.attribution = LiveAttribution(
            settings.attribution_window_s, settings.attribution_max_sessions
        )
        self.impressions, self.outcome_log = make_logs(settings, metrics)
        self._reports: dict[str, tuple[float, dict]] = {}
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._sessions: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ answers
    def choose(self, session_id: str | None, session_start: float | None = None) -> Choice:
        if session_id is not None and session_id.startswith(CONSOLE_SESSION_PREFIX):
            session_id = None  # the console's try-out: the served model, in no experiment
        return self.experiments.choose(session_id, session_start)

    def answered(
        self,
        choice: Choice,
        rec: Recommendation,
        *,
        session_id: str | None,
        product_id: str | None,
        route: str,
    ) -> str:
        """Record an answer; returns its recommendation id. Never raises, never blocks."""
        now = time.time()
        rec_id = new_recommendation_id(now)
        experiment = choice.experiment or NO_EXPERIMENT
        if self.impressions is not None:
            self.impressions.record(
                impression_record(
                    recommendation_id=rec_id, session_id=session_id,
                    experiment=choice.experiment, variant=choice.variant,
                    probability=choice.probability, model_version=choice.served.version,
                    strategy=rec.strategy, route=route, product_id=product_id,
                    item_ids=rec.item_ids, scores=rec.scores.tolist(), ts=now,
                )
            )  # fmt: skip
        self.metrics.experiment_impressions_of(experiment, choice.variant).inc()
        if session_id is not None:
            arm = Arm(experiment, choice.variant)
            self.attribution.shown(session_id, rec_id, arm, rec.item_ids, now)
            self._count_session(session_id, arm)
        return rec_id

    def _count_session(self, session_id: str, arm: Arm) -> None:
        with self._lock:
            if session_id in self._seen:
                return
            self._seen[session_id] = None
            if len(self._seen) > SEEN_SESSIONS:
                self._seen.popitem(last=False)
            key = (arm.experiment, arm.variant)
            self._sessions[key] = self._sessions.get(key, 0) + 1
        self.metrics.experiment_sessions_of(arm.experiment, arm.variant).inc()

    # ------------------------------------------------------------------ outcomes
    def outcomes(self, events: Sequence[ViewEvent]) -> None:
        """Attribute and count the clicks, carts and purchases of a posted batch, and log
        them (files sink). Views are not logged: the report needs only outcomes."""
        outcomes = [e for e in events if e.event_type in OUTCOME_TYPES]
        if not outcomes:
            return
        m = self.metrics
        for e in outcomes:
            if e.event_type == "click":
                arm = self.attribution.click(e.session_id, e.product_id, e.recommendation_id,
                                             e.ts)  # fmt: skip
                labels = arm or self._arm_of(e.session_id, e.ts)
                m.experiment_clicks.labels(labels.experiment, labels.variant,
                                           "true" if arm else "false").inc()  # fmt: skip
                continue
            arm = self.attribution.conversion(e.session_id, e.product_id, e.ts)
            if arm is None:
                continue
            if e.event_type == "cart":
                m.experiment_carts.labels(arm.experiment, arm.variant).inc()
            else:
                m.experiment_purchases.labels(arm.experiment, arm.variant).inc()
                revenue = (e.price or 0.0) * (e.quantity or 1)
                m.experiment_revenue.labels(arm.experiment, arm.variant).inc(revenue)
        if self.outcome_log is not None:
            for e in outcomes:
                self.outcome_log.record(e.model_dump(mode="json"))

    def _arm_of(self, session_id: str, ts: float) -> Arm:
        found = self.experiments.variant_of(session_id, ts)
        return Arm(*found) if found else Arm(NO_EXPERIMENT, DEFAULT_VARIANT)

    def forget(self, session_id: str) -> bool:
        """Drop what this process remembers of a session and mark it in the log (the report
        leaves it out); False when the mark could not be queued."""
        self.attribution.forget(session_id)
        with self._lock:
            self._seen.pop(session_id, None)
        if self.impressions is None:
            return False
        return self.impressions.record(forget_record(session_id, time.time()))

    # ------------------------------------------------------------------ reports
    def report(self, experiment: Experiment) -> dict:
        """The report of ``experiment`` as a dict: computed from the local logs (files sink;
        cached a few seconds), or the one the batch job left in the reports directory.

        Raises:
            DataError: there is no report to give (the message says how to make one).
        """
        s = self.settings
        if _sink_kind(s) == "files":
            cached = self._reports.get(experiment.name)
            if cached is not None and time.monotonic() - cached[0] < REPORT_CACHE_S:
                return cached[1]
            from pipelines.experiment_query import ReportWindow, sessions_from_logs
            from pipelines.experiment_report import build_report

            if self.outcome_log is not None:
                self.outcome_log.flush(1.0)
            if self.impressions is not None:
                self.impressions.flush(1.0)
            window = ReportWindow(window_s=s.attribution_window_s)
            report = build_report(sessions_from_logs(s.logs_dir, experiment.name, window),
                                  experiment).to_dict()  # fmt: skip
            self._reports[experiment.name] = (time.monotonic(), report)
            return report
        if s.experiment_reports_dir:
            path = Path(s.experiment_reports_dir) / f"{experiment.name}.json"
            try:
                return json.loads(path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                pass
            except (OSError, ValueError) as exc:
                raise DataError(f"the report {path} is not readable: {exc}") from None
        raise DataError(
            f"no report of {experiment.name!r} here: the logs are in Kafka (BigQuery); run "
            f"`python -m pipelines experiment-report --experiment {experiment.name} ... --out "
            f"<NOWREC_EXPERIMENT_REPORTS_DIR>/{experiment.name}.json` to publish one"
        )

    # ------------------------------------------------------------------ upkeep
    def reload(self) -> str:
        """Re-read the experiments file if it changed, and update the sample-ratio check."""
        result = self.experiments.reload()
        self.update_srm()
        return result

    def update_srm(self) -> float | None:
        """Chi-square p-value of this process's sessions per variant against the shares."""
        experiment = self.experiments.config.running
        if experiment is None:
            return None
        with self._lock:
            counts = [self._sessions.get((experiment.name, v), 0) for v in experiment.names]
        if min(counts) < SRM_MIN_SESSIONS or experiment.allocation != "fixed":
            return None
        from scipy.stats import chisquare  # off the request path: only this check needs it

        total = sum(counts)
        expected = [total * s for s in experiment.shares]
        p = float(chisquare(counts, expected).pvalue)
        self.metrics.experiment_srm_p_value.labels(experiment.name).set(p)
        return p

    def close(self) -> None:
        for record_log in (self.impressions, self.outcome_log):
            if record_log is not None:
                record_log.close()
        self.experiments.close()

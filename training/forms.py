"""The "Retrain from feedback" form, shared by the admin panel and the staff page: it checks the run before it
starts (the quality gates, the time estimate) and starts it through training.services.training_run_start."""

from __future__ import annotations

from dataclasses import dataclass

from django import forms
from django.core.exceptions import ValidationError

from accounts.models import User
from models_hub.errors import HubError
from models_hub.models import Commit, Repository
from models_hub.selectors import repo_access_for, revision_resolve
from training import services
from training.hyperparameters import DEFAULT_LEARNING_RATE, PARAMS, hyperparameters_clean
from training.models import TrainingRun
from training.run_progress import duration

# The hyper-parameters the form asks for; the others keep their defaults (the REST API takes them all).
FORM_PARAMS = (
    "max_steps",
    "num_train_epochs",
    "learning_rate",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "max_length",
    "seed",
)
REPO_ID_MAX = 200


@dataclass(frozen=True)
class Plan:
    """What a run would be, checked: the exact commits, the parameters, the estimate."""

    base_commit: Commit
    dataset_commit: Commit
    hyperparameters: dict
    estimate: services.Estimate | None
    rows: int

    @property
    def estimate_text(self) -> str:
        if self.estimate is None:
            return "No estimate: the train split's size is unknown."
        return f"About {duration(self.estimate.seconds)} ({self.estimate.reason})."


def _param_field(name: str) -> forms.Field:
    param = PARAMS[name]
    kwargs = {"required": False, "help_text": param.help, "min_value": param.low, "max_value": param.high}
    if param.kind is int:
        return forms.IntegerField(initial=param.default, **kwargs)
    if name == "learning_rate":
        kwargs["help_text"] += " Empty: " + ", ".join(f"{m.upper()} {v:g}" for m, v in DEFAULT_LEARNING_RATE.items())
    return forms.FloatField(initial=param.default, **kwargs)


class RunStartForm(forms.Form):
    base_model = forms.CharField(max_length=REPO_ID_MAX, help_text="owner/name of the model to train.")
    revision = forms.CharField(max_length=255, initial="main", help_text="A branch, tag or commit id.")
    dataset = forms.CharField(max_length=REPO_ID_MAX, help_text="owner/name of a dataset (a feedback snapshot).")
    dataset_revision = forms.CharField(max_length=255, initial="main", help_text="A branch, tag or commit id.")
    method = forms.ChoiceField(choices=TrainingRun.Method.choices, initial=TrainingRun.Method.SFT)
    use_lora = forms.BooleanField(
        required=False, label="LoRA", help_text="Train low-rank adapters, merged into full weights on save."
    )

    def __init__(self, *args, user: User, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        for name in FORM_PARAMS:
            self.fields[name] = _param_field(name)
        self.plan: Plan | None = None

    def _repo(self, field: str, kind: str) -> Repository | None:
        value = (self.cleaned_data.get(field) or "").strip().strip("/")
        namespace, _, name = value.partition("/")
        if not namespace or not name or "/" in name:
            self.add_error(field, f"Write the {kind} as owner/name.")
            return None
        try:
            return repo_access_for(self.user, kind=kind, namespace=namespace, name=name).repo
        except HubError:
            self.add_error(field, f"No {kind} named {value}.")
            return None

    def hyperparameters(self) -> dict:
        given = {name: self.cleaned_data.get(name) for name in FORM_PARAMS}
        return {name: value for name, value in given.items() if value is not None}

    def clean(self):
        cleaned = super().clean()
        base = self._repo("base_model", Repository.Kind.MODEL) if cleaned.get("base_model") else None
        dataset = self._repo("dataset", Repository.Kind.DATASET) if cleaned.get("dataset") else None
        if self.errors or base is None or dataset is None:
            return cleaned
        cleaned["base_repository"], cleaned["dataset_repository"] = base, dataset
        method = cleaned["method"]
        try:
            params = hyperparameters_clean(self.hyperparameters(), method=method)
            base_commit = _resolve(base, cleaned["revision"])
            dataset_commit = _resolve(dataset, cleaned["dataset_revision"])
            layout = services.training_gates(base_commit=base_commit, dataset_commit=dataset_commit, method=method)
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None
        estimate = services.training_run_estimate(layout=layout, method=method, hyperparameters=params)
        rows = layout.train.rows if layout.train else 0
        self.plan = Plan(base_commit, dataset_commit, params, estimate, rows)
        return cleaned

    def start(self) -> TrainingRun | None:
        """Start the run the form describes (valid forms only); None, with the refusal on the form, if refused."""
        data = self.cleaned_data
        try:
            return services.training_run_start(
                user=self.user,
                base_repository=data["base_repository"],
                revision=self.plan.base_commit.oid,
                dataset_repository=data["dataset_repository"],
                dataset_revision=self.plan.dataset_commit.oid,
                method=data["method"],
                hyperparameters=self.hyperparameters(),
                use_lora=data["use_lora"],
            )
        except (ValidationError, HubError) as exc:
            self.add_error(None, exc.message if isinstance(exc, HubError) else exc.messages)
            return None


def _resolve(repo: Repository, revision: str) -> Commit:
    try:
        return revision_resolve(repo, revision or "main")
    except HubError:
        raise ValidationError(f"{repo.repo_id} has no revision {revision[:100]!r}.") from None

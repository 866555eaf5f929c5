"""``dealflow score``: train the learned lead score on the deals' won/lost history, and score a lead."""

from __future__ import annotations

from typing import Annotated

import typer

from dealflow.analytics.lead_model import describe
from dealflow.cli.context import AsOption, DbOption, JsonOption, console, print_json, resolve_actor, workspace
from dealflow.cli.lead_views import lead_json
from dealflow.services import lead_scoring
from dealflow.services import leads as sl

app = typer.Typer(help="Learned lead scores.", no_args_is_help=True)


@app.command("train")
def train(
    process: Annotated[
        str | None, typer.Option(help="Process whose closed deals to learn from (default: the workspace's default).")
    ] = None,
    db: DbOption = None,
    as_user: AsOption = None,
    as_json: JsonOption = False,
) -> None:
    """Train a calibrated logistic regression on won and lost deals; report its held-out AUC."""
    with workspace(db) as uow:
        training = lead_scoring.train_model(uow=uow, actor_id=resolve_actor(uow, as_user), process_key=process)
    model = training.model
    top = [{"feature": describe(n), "weight": round(w, 4)} for n, w in model.top_features()]
    if as_json:
        print_json({"process": training.process, "n": model.n, "won": model.won, "lost": model.lost, "auc": model.auc,
                    "features": len(model.features), "top": top, "rescored": training.rescored})  # fmt: skip
        return
    out = console()
    out.print(f"trained on {model.n} closed deals of {training.process} ({model.won} won, {model.lost} lost)")
    out.print(f"held-out AUC {model.auc:.3f} over {len(model.features)} features")
    for item in top:
        out.print(f"  {item['weight']:+.3f} {item['feature']}")
    out.print(f"{training.rescored} open leads scored again")


@app.command("lead")
def score_lead(
    lead_id: Annotated[str, typer.Argument(help="Lead id, like L-3.")], db: DbOption = None, as_json: JsonOption = False
) -> None:
    """A lead's fit, intent and learned scores, with the factors behind each."""
    with workspace(db) as uow:
        view = sl.view_lead(uow=uow, lead_id=lead_id)
    found = lead_json(view).get("scores")
    if as_json:
        print_json({"id": lead_id, **(found or {})})
        return
    out = console()
    if view.score is None:
        out.print(f"{lead_id} runs under no process: nothing to score it by")
        return
    rules = view.score.rules
    out.print(f"{lead_id}: fit {rules.fit} · intent {rules.intent}")
    for f in rules.factors:
        out.print(f"  {f.points:+d} {f.kind}: {f.rule}")
    if view.score.learned is None:
        out.print("learned: no model trained yet (dealflow score train)")
        return
    out.print(f"learned probability of winning: {view.score.learned:.1%}")
    for name, weight in view.score.learned_factors:
        out.print(f"  {weight:+.3f} {describe(name)}")

"""The words of `sla diff`, in English and Japanese.

`WHAT` names each element of the agreement a change can be about; a message is that phrase
put into one of three sentences (added, removed, changed). Keep both languages in step: a
test checks that every key has both.
"""

from __future__ import annotations

from .model import ADDED, CHANGED, REMOVED, Atom, Change, Items, Plain, Quote, What, Word

WHAT: dict[str, tuple[str, str]] = {
    "policy": ("the agreement {title}", "合意書{title}"),
    "agreement.title": ("the agreement's title", "合意書の表題"),
    "agreement.version": ("the version", "版数"),
    "agreement.effective": ("the effective date", "発効日"),
    "agreement.language": ("the document language", "文書の言語"),
    "agreement.owner": ("the owner of the agreement", "合意書の管理責任者"),
    "agreement.calendar": ("the default calendar", "既定の営業カレンダー"),
    "agreement.purpose": ("the purpose", "目的"),
    "agreement.term": ("the term of the agreement", "合意の有効期間"),
    "agreement.amendment": ("how the agreement is amended", "合意の変更手続"),
    "party": ("party {team}", "当事者{team}"),
    "team": ("team {team}", "チーム{team}"),
    "team.label": ("the name of {team}", "{team}の名称"),
    "team.signs": ("whether {team} signs the agreement", "{team}の署名の有無"),
    "team.role": ("the role of {team}", "{team}の役割"),
    "team.lead": ("the lead of {team}", "{team}の責任者"),
    "team.reviewers": ("the reviewers of {team}", "{team}の承認者"),
    "team.parent": ("the party {team} is part of", "{team}の所属"),
    "team.capacity": ("the capacity of {team}", "{team}の対応能力"),
    "property": ("property {name}", "プロパティ{name}"),
    "event": ("event {name}", "イベント{name}"),
    "calendar": ("calendar {calendar}", "営業カレンダー{calendar}"),
    "calendar.label": ("the name of calendar {calendar}", "営業カレンダー{calendar}の名称"),
    "calendar.timezone": ("the time zone of calendar {calendar}", "営業カレンダー{calendar}のタイムゾーン"),
    "calendar.days": ("the working days of calendar {calendar}", "営業カレンダー{calendar}の営業日"),
    "calendar.hours": ("the working hours of calendar {calendar}", "営業カレンダー{calendar}の営業時間"),
    "calendar.holidays": ("the public holidays of calendar {calendar}", "営業カレンダー{calendar}の祝日"),
    "calendar.closed": ("the closed dates of calendar {calendar}", "営業カレンダー{calendar}の休業日"),
    "score": ("score model {score}", "スコアモデル{score}"),
    "score.label": ("the name of score model {score}", "スコアモデル{score}の名称"),
    "score.hubspot": ("the HubSpot property of score model {score}", "スコアモデル{score}のHubSpotプロパティ"),
    "score.group": ("score group {group} of {score}", "{score}のスコアグループ{group}"),
    "score.group.label": ("the name of score group {group} of {score}", "{score}のスコアグループ{group}の名称"),
    "score.group.cap": ("the maximum of score group {group} of {score}", "{score}のスコアグループ{group}の上限"),
    "score.rule": ("score rule {rule} ({group})", "スコアルール{rule}({group})"),
    "score.rule.label": ("the name of score rule {rule} ({group})", "スコアルール{rule}({group})の名称"),
    "score.rule.points": ("the points of score rule {rule} ({group})", "スコアルール{rule}({group})の点数"),
    "score.rule.per": ("how score rule {rule} ({group}) counts occurrences", "スコアルール{rule}({group})の回数ごとの加点"),
    "score.rule.condition": ("the condition of score rule {rule} ({group})", "スコアルール{rule}({group})の条件"),
    "stage": ("stage {stage}", "ステージ{stage}"),
    "stage.id": ("the identifier of stage {stage}", "ステージ{stage}の識別子"),
    "stage.label": ("the name of stage {stage}", "ステージ{stage}の名称"),
    "stage.owner": ("the owner of stage {stage}", "ステージ{stage}の担当"),
    "stage.markers": ("the kind of stage {stage}", "ステージ{stage}の区分"),
    "stage.hubspot": ("the HubSpot lifecycle stage of {stage}", "ステージ{stage}のHubSpotライフサイクルステージ"),
    "stage.description": ("the description of stage {stage}", "ステージ{stage}の説明"),
    "stage.calendar": ("the calendar of stage {stage}", "ステージ{stage}の営業カレンダー"),
    "deadline.respond": ("the first-response deadline in stage {stage}", "ステージ{stage}の初回対応期限"),
    "deadline.decide": ("the decision deadline in stage {stage}", "ステージ{stage}の判断期限"),
    "deadline.respond.target": ("the internal target (SLO) for the first response in stage {stage}",
                                "ステージ{stage}の初回対応の社内目標(SLO)"),
    "deadline.decide.target": ("the internal target (SLO) for the decision in stage {stage}",
                               "ステージ{stage}の判断の社内目標(SLO)"),
    "deadline.respond.owner": ("who owns the first-response deadline in stage {stage}", "ステージ{stage}の初回対応期限の担当"),
    "deadline.decide.owner": ("who owns the decision deadline in stage {stage}", "ステージ{stage}の判断期限の担当"),
    "deadline.respond.source": ("how the first-response deadline in stage {stage} is measured",
                                "ステージ{stage}の初回対応期限の測定方法"),
    "deadline.respond.via": ("which activities meet the first-response deadline in stage {stage}",
                             "ステージ{stage}の初回対応期限を満たす活動"),
    "deadline.decide.through": ("the stages the decision deadline of stage {stage} spans",
                                "ステージ{stage}の判断期限がまたぐステージ"),
    "deadline.decide.source": ("how the decision deadline in stage {stage} is measured",
                               "ステージ{stage}の判断期限の測定方法"),
    "follow_up": ("the follow-up cadence in stage {stage}", "ステージ{stage}のフォローアップ"),
    "follow_up.anchor": ("when the follow-ups in stage {stage} start counting", "ステージ{stage}のフォローアップの起点"),
    "follow_up.attempts": ("the number of follow-ups in stage {stage}", "ステージ{stage}のフォローアップ回数"),
    "follow_up.offsets": ("the follow-up schedule in stage {stage}", "ステージ{stage}のフォローアップ日程"),
    "follow_up.channels": ("the follow-up channels in stage {stage}", "ステージ{stage}のフォローアップ手段"),
    "follow_up.owner": ("who follows up in stage {stage}", "ステージ{stage}のフォローアップ担当"),
    "step": ("step {step} of the sequence in stage {stage}", "ステージ{stage}の順番のステップ{step}"),
    "step.kind": ("what step {step} of the sequence in stage {stage} asks", "ステージ{stage}の順番のステップ{step}の内容"),
    "step.within": ("the time for step {step} of the sequence in stage {stage}", "ステージ{stage}の順番のステップ{step}の期限"),
    "step.attempts": ("the number of attempts in step {step} of the sequence in stage {stage}",
                      "ステージ{stage}の順番のステップ{step}の対応回数"),
    "step.via": ("which activities count for step {step} of the sequence in stage {stage}",
                 "ステージ{stage}の順番のステップ{step}に数える活動"),
    "step.target": ("the internal target (SLO) for step {step} of the sequence in stage {stage}",
                    "ステージ{stage}の順番のステップ{step}の社内目標(SLO)"),
    "step.owner": ("who owns step {step} of the sequence in stage {stage}", "ステージ{stage}の順番のステップ{step}の担当"),
    "step.source": ("how step {step} of the sequence in stage {stage} is measured",
                    "ステージ{stage}の順番のステップ{step}の測定方法"),
    "cadence": ("the cadence of {event} in stage {stage}", "ステージ{stage}の{event}の回数"),
    "cadence.minimum": ("how many {event} each lead gets per period in stage {stage}",
                        "ステージ{stage}で各リードに期間ごとに必要な{event}の回数"),
    "cadence.owner": ("who sends {event} in stage {stage}", "ステージ{stage}で{event}を送る担当"),
    "escalation": ("the escalation of the {guard} in stage {stage}", "ステージ{stage}の{guard}のエスカレーション"),
    "escalation.after": ("when the {guard} in stage {stage} is escalated", "ステージ{stage}の{guard}のエスカレーションまでの時間"),
    "escalation.to": ("who receives the escalation of the {guard} in stage {stage}", "ステージ{stage}の{guard}のエスカレーション先"),
    "escalation.channels": ("how the {guard} in stage {stage} is escalated", "ステージ{stage}の{guard}のエスカレーション手段"),
    "escalation.on": ("the deadline an escalation in stage {stage} guards", "ステージ{stage}のエスカレーション対象期限"),
    "handoff": ("the hand-off into stage {stage}", "ステージ{stage}への引き渡し"),
    "handoff.sender": ("who hands leads over into stage {stage}", "ステージ{stage}への引き渡し元"),
    "handoff.include": ("the information handed over into stage {stage}", "ステージ{stage}への引き渡し情報"),
    "handoff.within": ("the hand-off deadline into stage {stage}", "ステージ{stage}への引き渡し期限"),
    "stage.entry": ("which new leads start in stage {stage}", "ステージ{stage}に流入する新しいリードの条件"),
    "handoff.notify": ("how the owner of stage {stage} is told about a new lead", "ステージ{stage}への引き渡しの通知手段"),
    "transition": ("the move from {source} to {target}", "{source}から{target}への移行"),
    "recycle": ("the recycle path from {source} back to {target}", "{source}から{target}へのリサイクル経路"),
    "transition.label": ("the name of the move from {source} to {target}", "{source}から{target}への移行の名称"),
    "transition.condition": ("the criteria for moving from {source} to {target}", "{source}から{target}への移行条件"),
    "transition.after": ("the time after which leads move from {source} to {target}", "{source}から{target}へ自動で移行するまでの期間"),
    "transition.record": ("what must be recorded when a lead moves from {source} to {target}",
                          "{source}から{target}への移行時に記録する項目"),
    "transition.order": ("the order in which the ways out of stage {stage} are tried (the first that matches applies)",
                         "ステージ{stage}からの移行条件の評価順(最初に一致したものが適用)"),
    "priority": ("lead priority {priority}", "リード優先度{priority}"),
    "priority.label": ("the name of lead priority {priority}", "リード優先度{priority}の名称"),
    "priority.condition": ("the criteria of lead priority {priority}", "リード優先度{priority}の条件"),
    "priority.order": ("the order of the lead priorities (the first that matches applies)",
                       "リード優先度の評価順(最初に一致したものが適用)"),
    "kpi": ("KPI {kpi}", "KPI{kpi}"),
    "kpi.label": ("the name of KPI {kpi}", "KPI{kpi}の名称"),
    "kpi.owner": ("the owner of KPI {kpi}", "KPI{kpi}の担当"),
    "kpi.measure": ("what KPI {kpi} measures", "KPI{kpi}の測定内容"),
    "kpi.target": ("the target of KPI {kpi}", "KPI{kpi}の目標値"),
    "kpi.source": ("the data source of KPI {kpi}", "KPI{kpi}の測定方法"),
    "kpi.alert": ("the alert of KPI {kpi}", "KPI{kpi}のアラート"),
    "kpi.alert.threshold": ("when the alert of KPI {kpi} fires", "KPI{kpi}のアラート閾値"),
    "kpi.alert.action": ("what the alert of KPI {kpi} asks for", "KPI{kpi}のアラート時の対応"),
    "kpi.alert.notify": ("who the alert of KPI {kpi} notifies", "KPI{kpi}のアラートの通知先"),
    "kpi.alert.review": ("the review the alert of KPI {kpi} calls", "KPI{kpi}のアラートで開く会議"),
    "information": ("information {sender} owes {receiver}: {item}", "{sender}から{receiver}への情報提供{item}"),
    "information.text": ("the wording of information {sender} owes {receiver}", "{sender}から{receiver}への情報提供の文言"),
    "information.within": ("the deadline for information {item} from {sender} to {receiver}",
                           "{sender}から{receiver}への情報提供{item}の期限"),
    "information.anchor": ("from when {item} ({sender} to {receiver}) is due", "{sender}から{receiver}への{item}の期限の起点"),
    "information.every": ("how often {sender} reports {item} to {receiver}", "{sender}から{receiver}への{item}の報告頻度"),
    "information.recorded_in": ("where information {item} is recorded", "情報{item}の記録先"),
    "responsibility": ("responsibility {task}", "業務{task}の責任分担"),
    "responsibility.task": ("the wording of a responsibility", "業務の文言"),
    "responsibility.responsible": ("who is responsible (R) for {task}", "{task}の実行責任(R)"),
    "responsibility.accountable": ("who is accountable (A) for {task}", "{task}の説明責任(A)"),
    "responsibility.consulted": ("who is consulted (C) on {task}", "{task}の協議先(C)"),
    "responsibility.informed": ("who is informed (I) about {task}", "{task}の報告先(I)"),
    "review": ("review meeting {review}", "会議{review}"),
    "review.label": ("the name of review meeting {review}", "会議{review}の名称"),
    "review.cadence": ("how often {review} meets", "{review}の開催頻度"),
    "review.owner": ("who runs {review}", "{review}の主催者"),
    "review.attendees": ("who attends {review}", "{review}の出席者"),
    "review.covers": ("what {review} covers", "{review}で扱う範囲"),
    "review.agenda": ("the agenda of {review}", "{review}のアジェンダ"),
    "review.last_held": ("when {review} was last held", "{review}の前回開催日"),
    "cancellation": ("a cancellation condition", "解約条件"),
    "cancellation.text": ("the wording of a cancellation condition", "解約条件の文言"),
    "clause.number": ("the clause ID of {item}", "{item}の条項ID"),
    "translation": ("the {lang} wording of {text}", "{text}の{lang}訳"),
}

WORDS: dict[str, tuple[str, str]] = {
    "none": ("none", "なし"),
    "always": ("always (no condition)", "常に(条件なし)"),
    "respond": ("first response", "初回対応"),
    "decide": ("decision", "判断"),
    "stage": ("time in the stage", "ステージ滞在時間"),
    "idle": ("time without activity", "活動のない期間"),
    "step": ("step {n}", "ステップ{n}"),  # `step2`: a step of a stage's sequence (`escalate … on step 2`)
    "follow_up": ("follow-up attempts", "フォローアップ"),
    "from_entry": ("from entering the stage", "ステージへの移行から"),
    "from_first_contact": ("from the first contact", "初回接触から"),
    "entry": ("entry", "入口"),
    "terminal": ("terminal", "終点"),
    "recycle": ("recycle", "リサイクル"),
    "signs": ("signs", "署名する"),
    "does_not_sign": ("does not sign", "署名しない"),
    "yes": ("yes", "はい"),
    "no": ("no", "いいえ"),
    "to_be_agreed": ("to be agreed", "別途合意"),
    "renews_automatically": ("renews automatically", "自動更新"),
    "renews_after_review": ("renews after review", "見直し後に更新"),
    "expires": ("expires", "期間満了で終了"),
}

EFFECT_WORDS: dict[str, tuple[str, str]] = {
    "stricter": ("stricter", "厳格化"),
    "looser": ("looser", "緩和"),
    "mixed": ("mixed", "混在"),
    "gains": ("gains", "受益"),
    "loses": ("loses", "不利益"),
    "neutral": ("neutral", "中立"),
}

# Fixed phrases of the reports.
PHRASES: dict[str, tuple[str, str]] = {
    "no_change": ("No semantic change.", "意味の変更はありません。"),
    "reordered_only": (
        "No semantic change: only the order of declarations changed. The fingerprint changes from {old} to {new}, "
        "so a signed copy must be signed again.",
        "意味の変更はありません(宣言の順序のみ変更)。ただしフィンガープリントが {old} から {new} に変わるため、"
        "署名済みの文書は再署名が必要です。",
    ),
    "added_policy": ("New agreement.", "新しい合意書です。"),
    "deleted_policy": ("The agreement is deleted.", "合意書が削除されます。"),
    "changes": ("{n} semantic changes", "意味の変更 {n} 件"),
    "change_one": ("1 semantic change", "意味の変更 1 件"),
    "clause": ("Clause", "条項"),
    "change": ("Change", "変更"),
    "details": ("Details", "詳細"),
    "affects": ("affects", "影響先"),
    "was": ("was", "旧"),
    "approvers": ("Required approvals", "必要な承認"),
    "approver_reason_owner": ("owner of the agreement", "合意書の管理責任者"),
    "approver_reason_stricter": ("obligations get stricter", "義務が厳しくなる"),
    "approver_reason_amendment": ("approves every amendment", "変更手続の承認者"),
    "no_reviewers": ("declares no reviewers", "承認者が未登録"),
    "summary_title": ("Changes to the agreement", "合意書の変更点"),
    "renamed_from": ("renamed from {old}", "{old} から名称変更"),
    "for_party": ("for", "対象"),
    "approved_by": ("approved by {who}", "{who} が承認済み"),
    "missing_approval": ("needs approval from one of: {who}", "次のいずれかの承認が必要: {who}"),
    "approver_reason_obligor": ("must do more", "義務が厳しくなる"),
    "approver_reason_beneficiary": ("is owed less", "受ける義務が緩くなる"),
    "not_the_author": ("not {author}, who wrote the change", "変更の作成者 {author} を除く"),
    "obligation_changes": ("Obligation changes", "義務の変更"),
    "other_changes": ("Other changes (no obligation changes): {n}", "その他の変更(義務の変更なし):{n} 件"),
    "before": ("before", "変更前"),
    "after": ("after", "変更後"),
    "in_words": ("Before → after, in the agreement's words", "変更前 → 変更後(合意書の文言)"),
    "version_ok": ("Version {old} → {new}: enough for a {level} change.", "版数 {old} → {new}:{level} の変更として十分です。"),
    "version_needed": ("Version: the change needs a {level} version — propose {proposed} (now {new}).",
                       "版数:この変更には {level} の版上げが必要です — {proposed} を提案します(現在 {new})。"),
    "version_needed_text": ("Version: the change needs a new version (now {new}).", "版数:新しい版数が必要です(現在 {new})。"),
    "level_major": ("major", "メジャー"),
    "level_minor": ("minor", "マイナー"),
    "level_patch": ("patch", "パッチ"),
}

_LANG = {"en": 0, "ja": 1}


def phrase(key: str, lang: str, **params) -> str:
    return PHRASES[key][_LANG[lang]].format(**params)


def effect_word(effect: str, lang: str) -> str:
    return EFFECT_WORDS[effect][_LANG[lang]]


def render_atom(atom: Atom | None, lang: str) -> str:
    if atom is None:
        return ""
    if isinstance(atom, Plain):
        return atom.text
    if isinstance(atom, Quote):
        return f"「{atom.text}」" if lang == "ja" else f"“{atom.text}”"
    if isinstance(atom, Word):
        if atom.key.startswith("step") and atom.key[4:].isdigit():  # `step2`: step 2 of a sequence
            return WORDS["step"][_LANG[lang]].format(n=atom.key[4:])
        return WORDS[atom.key][_LANG[lang]]
    if isinstance(atom, Items):
        if not atom.items:
            return WORDS["none"][_LANG[lang]]
        return ("、" if lang == "ja" else ", ").join(render_atom(a, lang) for a in atom.items)
    raise TypeError(atom)


def render_what(what: What, lang: str) -> str:
    template = WHAT[what.key][_LANG[lang]]
    return template.format(**{k: render_atom(v, lang) for k, v in what.params})


def headline(change: Change, lang: str) -> str:
    """What changed, without the values: for a clause shown before and after in full."""
    what = render_what(change.what, lang)
    word = {ADDED: ("added", "を追加"), REMOVED: ("removed", "を削除"), CHANGED: ("changed", "を変更")}[change.action]
    if lang == "ja":
        return what + word[1]
    return what[:1].upper() + what[1:] + " " + word[0]


def message(change: Change, lang: str) -> str:
    """One sentence saying what changed, in `lang`."""
    what = render_what(change.what, lang)
    old, new = render_atom(change.old, lang), render_atom(change.new, lang)
    if lang == "ja":
        if change.action == ADDED:
            return f"{what}を追加" + (f":{new}" if new else "")
        if change.action == REMOVED:
            return f"{what}を削除" + (f"(変更前:{old})" if old else "")
        return f"{what}を変更:{old} → {new}"
    what = what[:1].upper() + what[1:]
    if change.action == ADDED:
        return f"{what} added" + (f": {new}" if new else "")
    if change.action == REMOVED:
        return f"{what} removed" + (f" (was {old})" if old else "")
    assert change.action == CHANGED
    return f"{what} changed: {old} → {new}"

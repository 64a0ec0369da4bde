"""Pattern rules for prompt-injection detection.

Each rule is a regular expression over the normalised message (see
:mod:`bot.safety.normalize`) with a weight: the probability-like score the rule alone
contributes. Strong rules (explicit override/extraction/chat-template markers) are
weighted to refuse on their own; softer ones (role play, fake "System:" lines) only
push a message into the "harden" band unless something else agrees.

Patterns are written against casefolded text, so they contain lower-case only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from bot.safety.normalize import NormalizedText

__all__ = ["RULES", "Rule", "match_rules"]

View = Literal["text", "lines", "compact", "squashed"]


@dataclass(frozen=True)
class Rule:
    """One named pattern; ``view`` selects which normalised form it runs on."""

    name: str
    weight: float
    pattern: re.Pattern[str]
    view: View = "compact"


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.MULTILINE)


# Up to four filler words between verb and object ("ignore all of the above
# instructions"); bounded so that unrelated words far apart in long text don't join.
_GAP = r"(?:(?!(?:my|i|me|mine|mein\w*|mi|mis|mon|ma|mes)\b)[\w'’-]+[\s,]+){0,4}?"

# "my" is deliberately absent from the override qualifiers, and first-person words
# may not fill the gap: "ignore my last message" and "forget my previous order" are
# ordinary customer corrections (likewise "meine", "mis", "mes").
_EN_OBJECTS = (
    r"(?:instructions?|prompts?|rules|directives?|guidelines?|commands|orders|"
    r"assignments?|tasks|programming|constraints|restrictions|policies|documents|articles)"
)
_EN_QUALIFIERS = (
    r"(?:previous|prior|preceding|above|earlier|former|initial|original|foregoing|"
    r"system|existing|all|any|every|your|these|those|other|provided|given|old)"
)
_EN_VERBS = (
    r"(?:ignore|ignoring|disregard|disregarding|forget|forgetting|skip|drop|bypass|override|"
    r"overrule|abandon|discard|neglect|overlook|dismiss|throw\ away|stop\ following|"
    r"don'?t\ follow|do\ not\ follow)"
)

# No "löschen"/"streichen": deleting data and cancelling orders are customer requests.
_DE_VERBS = (
    r"(?:ignorier\w*|vergiss|vergesst|vergessen\ sie|missacht\w*|verwirf|verwerfen\ sie|"
    r"übergeh\w*)"
)
_DE_QUALIFIERS = (
    r"(?:alle[ns]?|vorherige\w*|bisherige\w*|obige\w*|vorangehende\w*|vorangegangene\w*|"
    r"vorigen?|früher\w*)"
)
# Objects that only ever mean the bot's instructions.
_DE_OBJECTS = (
    r"(?:anweisung\w*|instruktion\w*|befehl\w*|regeln|vorgaben|richtlinien|prompts?|alles)"
)
# Objects a customer may also mean ("ignorieren Sie die Angaben in meiner Mail"), so
# they need an explicit "all/previous" qualifier.
_DE_SOFT_OBJECTS = r"(?:aufgaben|aufträge|angaben|informationen|kontext)"

RULES: tuple[Rule, ...] = (
    # --- instruction override -------------------------------------------------
    Rule(
        "override_en", 0.97, _rx(rf"\b{_EN_VERBS}\s+{_GAP}{_EN_QUALIFIERS}\s+{_GAP}{_EN_OBJECTS}\b")
    ),
    Rule(
        "override_en",
        0.95,
        _rx(
            r"\b(?:ignore|disregard|forget)\s+(?:all\s+|everything\s+)?(?:of\s+)?(?:the\s+)?"
            r"(?:above|before|said\ before|that\ came\ before|"
            r"you\ (?:know|were\ told|have\ been\ told))\b"
        ),
    ),
    Rule(
        "override_en",
        0.9,
        _rx(
            r"\b(?:forget|ignore|disregard)\s+(?:about\s+)?(?:everything|all\ (?:that|this))"
            r"(?:\s+(?:above|before|previously|we\ discussed|i\ said\ before|so\ far))?\s*[,.:;!-]"
            r"\s*(?:now\s+)?(?:write|say|print|output|tell|answer|repeat|show|respond|reply|"
            r"generate|state|just|only|from\ now)"
        ),
    ),
    Rule(
        "override_en",
        0.93,
        _rx(
            r"\b(?:forget|ignore|disregard)\s+(?:about\s+)?everything\s+(?:we\s+(?:discussed|talked\s+about)|"
            r"(?:you\s+)?(?:said|heard|read)|and\s+(?:just\s+|only\s+)?(?:tell|say|write|print|output|answer))"
            r"|\b(?:leave|put)\s+(?:all\s+)?(?:the\s+)?(?:previous|prior|above|earlier)\s+\w+\s+behind\b"
            r"|\bdespite\s+what\s+you(?:'ve|\s+have)\s+been\s+told\b"
            r"|\bregardless\s+of\s+(?:your|any|the)\s+(?:previous\s+|prior\s+)?(?:instructions|rules)\b"
            r"|\bstopp?\s*[-:!]+\s*(?:now\s+)?(?:write|say|print|output)\b"
            r"|\b(?:new|additional|updated|different)\s+(?:instructions?|rules|task)\s*(?:follow|:|are|-)"
            r"|\byour\s+(?:new\s+)?instructions\s+are\s+now\b"
            r"|\bchange\s+your\s+(?:instructions|rules|programming)\b"
            r"|\b(?:do\ not|don'?t)\s+(?:answer|look\ (?:in|at))\s+"
            r"(?:this\ question|the\ (?:documents?|articles?))"
            r"|\binstead\s+(?:output|print|say|write)\b"
        ),
    ),
    Rule(
        "override_soft",
        0.7,
        _rx(
            # Objects that a customer correcting themselves might also use ("disregard the
            # previous information, my address changed"), so these only harden.
            r"\b(?:ignor\w*|disregard\w*|forget)\s+(?:all\s+)?(?:the\s+|your\s+)?(?:provided|given|above|"
            r"previous|prior|preceding|earlier)\s+(?:context|information|text|conversation|documents?|articles?)"
            r"|\b(?:ignor\w*|disregard\w*)\s+(?:the\s+|all\s+|any\s+)?(?:provided\s+)?(?:articles|documents|sources)\b"
            r"|\b(?:answer|respond|reply)\s+(?:by|from|with|using)\s+your\s+own\s+knowledge\b"
            r"|\b(?:alle\s+)?(?:vorherigen|bisherigen|obigen)\s+(?:informationen|angaben)\b.{0,60}"
            r"\b(?:irrelevant|ungültig|nicht\s+(?:ganz\s+)?(?:wichtig|großartig|relevant))"
            r"|\brepeat\s+after\s+me\b|\b(?:information|text)\s+in\s+the\s+prompt\b"
        ),
    ),
    Rule(
        "override_de",
        0.97,
        _rx(
            rf"\b{_DE_VERBS}\s+{_GAP}{_DE_OBJECTS}\b"
            rf"|\b{_DE_VERBS}\s+{_GAP}{_DE_QUALIFIERS}\s+{_GAP}{_DE_SOFT_OBJECTS}\b"
            r"|\blass\w*\s+(?:sie\s+|du\s+)?(?:alle\s+)?(?:vorherigen|bisherigen|obigen)\s+\w+\s+hinter\s+(?:dir|sich|euch)"
            r"|\b(?:abweichend|entgegen)\s+(?:zu|von)\s+(?:den\s+)?(?:vorherigen|bisherigen|obigen)\b"
            r"|\b(?:obigen|vorherigen|bisherigen)\s+(?:ausführungen|anweisungen|instruktionen)"
            r"\s+(?:ignorieren|vergessen)\b"
            r"|\bneue\s+(?:anweisungen|aufgaben|instruktionen)\s+folgen\b"
        ),
    ),
    Rule(
        "override_es",
        0.97,
        _rx(
            # Imperatives only: "olvidé las instrucciones" (I forgot them) is a customer.
            r"\b(?:ignora|ignore|ignorad|ignoren|olvida|olvide|olvidad|olviden|olvídate\ de|"
            r"descarta|descarte|omite|omita|no\ hagas\ caso\ a)\s+"
            r"(?:de\s+)?(?:todas?|todos|todo|cualquier)?\s*(?:las?|los|tus|sus)?\s*"
            r"(?:instrucciones|indicaciones|órdenes|ordenes|reglas|directrices|lo\ anterior|"
            r"todo\ lo\ (?:anterior|que))"
            r"|\b(?:olvida|olvide|olvidad|olviden|ignora|ignore)\s+todo\b"
        ),
    ),
    Rule(
        "override_fr",
        0.97,
        _rx(
            r"\b(?:ignore[rz]?|oublie[rz]?|néglige[rz]?|ne\ tiens?\ pas\ compte\ d)\s*"
            r"(?:toutes?|tous)?\s*(?:les|tes|vos|l'|la|ces)?\s*(?:instructions|consignes|directives|"
            r"règles|indications|ordres|précédent\w*|ce\ qui\ précède)"
            r"|\boubliez?\s+tout\b"
        ),
    ),
    Rule(
        "override_other",
        0.95,
        _rx(
            # Italian, Portuguese, Dutch, Croatian/Serbian, Russian: the same shape, shorter lists.
            r"\bignora\w*\s+(?:tutte\s+)?(?:le\s+)?istruzioni\b|\bdimentica\w*\s+(?:tutto|le\s+istruzioni)"
            r"|\b(?:ignore|esqueça|esqueca)\s+(?:todas\s+)?(?:as\s+)?instruções\b"
            r"|\b(?:negeer|vergeet)\s+(?:alle\s+)?(?:vorige\s+)?(?:instructies|opdrachten)\b"
            r"|\bzaboravi\s+(?:sve|prethodne)\b"
            r"|\b(?:забудь|забудьте|игнорируй|игнорируйте)\s+(?:все|всё|предыдущие)"
        ),
    ),
    Rule(
        "obfuscated_override",
        0.95,
        _rx(
            # Runs on text with all spacing and punctuation removed ("i.g.n.o.r.e all...").
            r"(?:ignore|disregard|forget)(?:all|any|the|your)*(?:previous|prior|above|preceding)?"
            r"(?:instructions|rules|prompts)|(?:reveal|print|repeat|show)(?:me)?(?:your|the)systemprompt"
        ),
        view="squashed",
    ),
    # --- role reassignment / jailbreak ----------------------------------------
    Rule(
        "jailbreak",
        0.97,
        _rx(
            r"\bdan\s+mode\b|\bdo\s+anything\s+now\b|\bjailbr(?:eak|oken)\b|\bdeveloper\s+mode\b"
            r"|\b(?:you|ai|model|chatgpt|assistant)\s+(?:have|has|with|without)\s+(?:no\s+)?"
            r"(?:any\s+)?(?:restrictions|filters|censorship|content\ polic\w+)\b"
            r"|\b(?:unfiltered|uncensored|unrestricted)\s+(?:mode|ai|assistant|version)\b"
            r"|\bstay\s+in\s+character\b|\bbreak\s+character\b|\bevil\s+(?:ai|assistant|bot)\b"
        ),
    ),
    Rule(
        "role_reassign",
        0.75,
        _rx(
            r"(?<!that )\byou\s+are\s+now\b"
            r"|\bfrom\s+now\s+on,?\s+you\s+(?:are|will|must|shall|act)\b"
            r"|(?:^|[.!?:;]\s*|\b(?:you|to|please|now|then)\s+)act\s+as\s+(?:an?|my|the)\s"
            r"|\bpretend\s+(?:to\s+be|you\s+(?:are|can|have))\b|\bimagine\s+you\s+are\b"
            r"|\brole[\s-]?play(?:ing)?\s+as\b|\byou\s+are\s+(?:going\s+to\s+)?(?:act|play)(?:ing)?\s+as\b"
            r"|\bnow\s+you\s+are\b"
            r"|\b(?:jetzt|nun)\s+bist\s+du\b|\bdu\s+bist\s+(?:jetzt|nun|ab\s+sofort)\b"
            r"|\bstell\s+dir\s+vor,?\s+du\s+bist\b|\btu\s+so,?\s+als\b"
            r"|\bdass\s+(?:sie|du)\s+als\s+.{1,80}?\b(?:fungier|agier)\w*"
            r"|\bahora\s+eres\b|\bactúa\s+como\b|\bfinge\s+(?:ser|que\s+eres)\b"
            r"|\btu\s+es\s+maintenant\b|\bagis\s+comme\b|\bfais\s+semblant\b"
        ),
    ),
    # --- system-prompt extraction ---------------------------------------------
    Rule(
        "prompt_extraction",
        0.97,
        _rx(
            r"\b(?:system|initial|original|hidden|secret|full|complete|entire)\s+prompt\b"
            r"|\bprompt[\s_-]?texts?\b|\bprompt-texte?s?\b"
            r"|\b(?:repeat|print|show|reveal|display|output|tell\ me|give\ me|write\ out|leak|dump)"
            r"\s+(?:me\s+)?(?:all\s+)?(?:of\s+)?your\s+(?:\w+\s+)?(?:instructions|prompt|rules|guidelines|"
            r"directives|configuration|initial\ text)\b"
            r"|\bwhat\s+(?:are|were)\s+your\s+(?:\w+\s+)?(?:instructions|rules|guidelines|directives)\b"
            r"|\bwhat\s+(?:was|is)\s+written\s+(?:at\s+the\s+beginning|above|before)\b"
            r"|\b(?:text|words|sentences?)\s+(?:above|before)\s+(?:this|the\s+text)\b"
            r"|\bzeige?\s+(?:mir\s+)?(?:deinen|deine|alle|den)\s+(?:\w+\s+)?(?:prompt|anweisungen)"
            r"|\bwas\s+steht\s+(?:oben|am\s+anfang)\b"
        ),
    ),
    # --- delimiter / chat-template tricks ------------------------------------
    Rule(
        "delimiter",
        0.97,
        _rx(
            r"\[/?inst\]|<\|?(?:im_start|im_end|system|user|assistant|endoftext|eot_id|"
            r"start_header_id|end_header_id)\|?>|<<\s*/?sys\s*>>|</?s>\s*\[inst"
            r"|^\s*#{2,}\s*(?:system|instruction|instructions|assistant|response)\b"
        ),
        view="lines",
    ),
    Rule(
        "fake_role_line",
        0.7,
        _rx(
            r"^\s*(?:system|assistant|ai|human|developer|admin|sys|instructions?|new\s+instructions?)\s*:\s*\S"
            r"|\b(?:document\s+)?context\s*:?\s*[{\"“].{0,300}\b(?:question|frage)\s*:?"
            r"|\b(?:system|admin)\s+(?:override|message|notice|instruction)\s*:"
        ),
        view="lines",
    ),
)


def match_rules(norm: NormalizedText) -> list[Rule]:
    """Return the rules that fire on ``norm``; at most one entry per rule name."""
    fired: dict[str, Rule] = {}
    for rule in RULES:
        current = fired.get(rule.name)
        if current is not None and current.weight >= rule.weight:
            continue
        haystack = getattr(norm, rule.view)
        if rule.pattern.search(haystack):
            fired[rule.name] = rule
    return list(fired.values())

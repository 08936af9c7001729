"""Language detection (lingua, built once) and intent rules (pure), as channels use them."""

from __future__ import annotations

from pathlib import Path

import pytest

from channels.language import (
    IntentRule,
    LanguageSettings,
    TextClassifier,
    load_language_settings,
    tag_intents,
)
from tests.unit.config_files import CONFIG, config_error, copy_shipped, edit_file

SHORT = {
    "en": ["Where is my refund?", "My order is late", "I was charged twice"],
    "fr": ["Où est mon remboursement ?", "Ma commande est en retard", "J'ai été débité deux fois"],
    "de": ["Wo ist meine Rückerstattung?", "Meine Bestellung ist verspätet", "Die App stürzt ab"],
    "es": ["¿Dónde está mi reembolso?", "Mi pedido llega tarde", "Me cobraron dos veces"],
    "it": ["Dov'è il mio rimborso?", "Il mio ordine è in ritardo", "L'app continua a bloccarsi"],
    "pt": [
        "Onde está o meu reembolso?",
        "A minha encomenda está atrasada",
        "Fui cobrado duas vezes",
    ],
    "nl": ["Waar is mijn terugbetaling?", "Mijn bestelling is te laat", "De app loopt steeds vast"],
}

LONG = {
    "en": "Hello, I placed an order three weeks ago and it still has not arrived. The tracking "
    "page says it left the warehouse, but nothing has moved since then. Could you check what "
    "happened and tell me when I can expect it? Otherwise I would like my money back.",
    "fr": "Bonjour, j'ai passé une commande il y a trois semaines et elle n'est toujours pas "
    "arrivée. La page de suivi indique qu'elle a quitté l'entrepôt, mais plus rien ne bouge "
    "depuis. Pourriez-vous vérifier ce qui s'est passé et me dire quand je peux l'attendre ?",
    "de": "Guten Tag, ich habe vor drei Wochen eine Bestellung aufgegeben, und sie ist immer "
    "noch nicht angekommen. Laut Sendungsverfolgung hat sie das Lager verlassen, aber seitdem "
    "bewegt sich nichts mehr. Könnten Sie bitte nachsehen, was passiert ist?",
    "es": "Hola, hice un pedido hace tres semanas y todavía no ha llegado. La página de "
    "seguimiento dice que salió del almacén, pero desde entonces no se ha movido nada. "
    "¿Podrían revisar qué pasó y decirme cuándo puedo esperarlo?",
}


@pytest.fixture(scope="module")
def classifier() -> TextClassifier:
    return TextClassifier.build(load_language_settings(CONFIG, {}))


@pytest.mark.parametrize(
    ("language", "text"), [(lang, t) for lang, texts in SHORT.items() for t in texts]
)
def test_short_texts_get_their_language(
    classifier: TextClassifier, language: str, text: str
) -> None:
    assert classifier.detect_language(text) == language


@pytest.mark.parametrize(("language", "text"), list(LONG.items()))
def test_long_texts_get_their_language(
    classifier: TextClassifier, language: str, text: str
) -> None:
    assert classifier.detect_language(text) == language
    assert classifier.detect_language(text * 20) == language  # read up to max_chars only


@pytest.mark.parametrize("text", ["Hello", "ok", "Merci", "order 12345", "?", "", "12 34 56 78"])
def test_too_few_words_or_no_letters_give_no_language(
    classifier: TextClassifier, text: str
) -> None:
    assert classifier.detect_language(text) is None


def test_a_language_outside_the_configured_set_is_never_named(
    classifier: TextClassifier,
) -> None:
    found = classifier.detect_language("Gdzie jest moja paczka, zamówiłem ją trzy tygodnie temu")
    assert found is None or found in classifier.settings.languages


def test_classify_gives_language_and_intents_together(classifier: TextClassifier) -> None:
    facts = classifier.classify("Bonjour, je n'ai pas reçu le remboursement de ma facture")
    assert facts.language == "fr"
    assert facts.intents == {"billing"}
    facts = classifier.classify("Hi, I want to cancel my order, it is late and I was charged")
    assert facts.language == "en"
    assert facts.intents == {"billing", "delivery", "cancellation"}


def test_detection_off_gives_no_language_but_still_intents() -> None:
    rules = (IntentRule("billing", ("invoice",)),)
    off = TextClassifier.build(LanguageSettings(enabled=False, intents=rules))
    facts = off.classify("Where is my invoice for last month?")
    assert facts.language is None and facts.intents == {"billing"}


# --- intents: pure -----------------------------------------------------------------------------

BILLING = IntentRule("billing", ("invoice", "refund*", "credit card"))
BILLING_FR = IntentRule("billing", ("facture", "rembours*"), frozenset({"fr"}))
DELIVERY_FR = IntentRule("delivery", ("colis", "en retard"), frozenset({"fr"}))


def test_a_keyword_tags_its_intent_on_whole_words_only() -> None:
    assert tag_intents("Where is my INVOICE?", [BILLING], "en") == {"billing"}
    assert tag_intents("my invoices", [BILLING], "en") == set()  # no `*`: whole word
    assert tag_intents("I was refunded twice", [BILLING], "en") == {"billing"}
    assert tag_intents("prefund", [BILLING], "en") == set()


def test_a_phrase_matches_its_words_in_a_row() -> None:
    assert tag_intents("paid by Credit  card, yesterday", [BILLING], "en") == {"billing"}
    assert tag_intents("credit on my card", [BILLING], "en") == set()


def test_case_and_accents_do_not_matter() -> None:
    assert tag_intents("Mon REMBOURSÉ est où ?", [BILLING_FR], "fr") == {"billing"}
    assert tag_intents("la facturé", [IntentRule("x", ("facturé",))], None) == {"x"}


def test_a_language_rule_applies_to_its_language_and_to_unknown_ones() -> None:
    rules = [BILLING, BILLING_FR, DELIVERY_FR]
    assert tag_intents("ma facture et mon colis", rules, "fr") == {"billing", "delivery"}
    assert tag_intents("ma facture et mon colis", rules, "en") == set()
    assert tag_intents("ma facture et mon colis", rules, None) == {"billing", "delivery"}
    assert tag_intents("le colis est en retard", rules, "fr") == {"delivery"}


def test_no_rules_no_tags() -> None:
    assert tag_intents("refund my invoice", [], "en") == frozenset()


# --- settings ----------------------------------------------------------------------------------


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    return copy_shipped(tmp_path, "intents.toml")


def edit(config_dir: Path, old: str, new: str) -> None:
    edit_file(config_dir / "intents.toml", old, new)


def error_of(config_dir: Path, env: dict[str, str] | None = None) -> str:
    return config_error(load_language_settings, config_dir, env)


def test_shipped_file_loads_with_its_rules() -> None:
    s = load_language_settings(CONFIG, {})
    assert s.enabled and s.accuracy == "high" and "fr" in s.languages
    assert {r.name for r in s.intents} >= {"billing", "delivery", "cancellation", "complaint"}


def test_without_a_file_the_defaults_apply_and_no_intents(tmp_path: Path) -> None:
    s = load_language_settings(tmp_path, {})
    assert s == LanguageSettings()


def test_environment_switches_detection_off(config_dir: Path) -> None:
    assert not load_language_settings(config_dir, {"CC_LANGUAGE_ENABLED": "off"}).enabled
    assert "CC_LANGUAGE_ENABLED" in error_of(config_dir, {"CC_LANGUAGE_ENABLED": "maybe"})


def test_problems_name_file_and_key(config_dir: Path) -> None:
    edit(config_dir, 'accuracy = "high"', 'accuracy = "best"')
    assert "language.accuracy" in error_of(config_dir)


def test_unknown_language_code_is_refused(config_dir: Path) -> None:
    edit(config_dir, '"en", "fr",', '"en", "xx",')
    message = error_of(config_dir)
    assert "language.languages" in message and "'xx'" in message


def test_an_intent_needs_words_and_a_star_only_at_the_end(config_dir: Path) -> None:
    edit(config_dir, '"invoice*", ', '"in*voice", ')
    assert "intent[0].words" in error_of(config_dir)


def test_unknown_intent_key_is_refused(config_dir: Path) -> None:
    edit(config_dir, 'name = "billing"', 'name = "billing"\nlanguage = ["fr"]')
    assert "intent[0].language" in error_of(config_dir)

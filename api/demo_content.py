"""The demo campaign's message texts: six templates in English, German, Danish and Chinese."""

from __future__ import annotations

from typing import Any

LOCALES = ("en", "de", "da", "zh")
STOP = {
    "en": "Reply STOP to opt out",
    "de": "Antworten Sie STOP zum Abmelden",
    "da": "Svar STOP for at afmelde",
    "zh": "回复 STOP 退订",
}
UNSUBSCRIBE = {"en": "Unsubscribe", "de": "Abmelden", "da": "Afmeld", "zh": "退订"}
PAY = {"en": "Pay now", "de": "Jetzt bezahlen", "da": "Betal nu", "zh": "立即付款"}

# template -> locale -> (subject / title, message)
TEXT: dict[str, dict[str, tuple[str, str]]] = {
    "friendly": {
        "en": (
            "A quick reminder, {{ name }}",
            "Hi {{ name }}, just a friendly reminder that {{ amount_due }} is due.",
        ),
        "de": (
            "Eine kurze Erinnerung, {{ name }}",
            "Hallo {{ name }}, nur eine freundliche Erinnerung: {{ amount_due }} sind fällig.",
        ),
        "da": (
            "En venlig påmindelse, {{ name }}",
            "Hej {{ name }}, en venlig påmindelse om, at {{ amount_due }} forfalder.",
        ),
        "zh": (
            "{{ name }}，温馨提醒",
            "{{ name }}您好，温馨提醒您有 {{ amount_due }} 的款项到期。",
        ),
    },
    "firm": {
        "en": (
            "Payment overdue: {{ amount_due }}",
            "{{ name }}, your payment of {{ amount_due }} is overdue. Please pay today.",
        ),
        "de": (
            "Zahlung überfällig: {{ amount_due }}",
            "{{ name }}, Ihre Zahlung von {{ amount_due }} ist überfällig. Bitte zahlen Sie heute.",
        ),
        "da": (
            "Betaling forfalden: {{ amount_due }}",
            "{{ name }}, din betaling på {{ amount_due }} er forfalden. Betal venligst i dag.",
        ),
        "zh": (
            "逾期付款：{{ amount_due }}",
            "{{ name }}，您的 {{ amount_due }} 款项已逾期，请今天付款。",
        ),
    },
    "instalment": {
        "en": (
            "Pay in instalments, {{ name }}",
            "{{ name }}, you can split {{ amount_due }} into three monthly instalments.",
        ),
        "de": (
            "Zahlen Sie in Raten, {{ name }}",
            "{{ name }}, Sie können {{ amount_due }} in drei Monatsraten aufteilen.",
        ),
        "da": (
            "Betal i rater, {{ name }}",
            "{{ name }}, du kan dele {{ amount_due }} op i tre månedlige rater.",
        ),
        "zh": (
            "{{ name }}，可分期付款",
            "{{ name }}，您可以将 {{ amount_due }} 分三个月分期付清。",
        ),
    },
    "discount": {
        "en": (
            "Save if you pay this week",
            "{{ name }}, pay {{ amount_due }} this week and we waive the late fee.",
        ),
        "de": (
            "Sparen Sie bei Zahlung diese Woche",
            "{{ name }}, zahlen Sie {{ amount_due }} diese Woche und wir erlassen die Mahngebühr.",
        ),
        "da": (
            "Spar ved betaling i denne uge",
            "{{ name }}, betal {{ amount_due }} i denne uge, så frafalder vi rykkergebyret.",
        ),
        "zh": ("本周付款可免滞纳金", "{{ name }}，本周支付 {{ amount_due }} 即可免除滞纳金。"),
    },
    "reminder": {
        "en": (
            "Reminder",
            "Hello {{ name }}. This is a reminder that {{ amount_due }} is due. Press 1 to pay now.",
        ),
        "de": (
            "Erinnerung",
            "Guten Tag {{ name }}. Dies ist eine Erinnerung: {{ amount_due }} sind fällig. Drücken Sie 1, um jetzt zu zahlen.",
        ),
        "da": (
            "Påmindelse",
            "Goddag {{ name }}. Dette er en påmindelse om, at {{ amount_due }} forfalder. Tryk 1 for at betale nu.",
        ),
        "zh": ("提醒", "{{ name }}您好，提醒您 {{ amount_due }} 已到期。按 1 立即付款。"),
    },
    "standard": {
        "en": (
            "Payment reminder",
            "Dear {{ name }},\n\nour records show {{ amount_due }} outstanding. Please pay at {{ pay_url }}.\n\n{{ creditor }}",
        ),
        "de": (
            "Zahlungserinnerung",
            "Sehr geehrte/r {{ name }},\n\nlaut unseren Unterlagen sind {{ amount_due }} offen. Bitte zahlen Sie unter {{ pay_url }}.\n\n{{ creditor }}",
        ),
        "da": (
            "Betalingspåmindelse",
            "Kære {{ name }},\n\nvores optegnelser viser {{ amount_due }} udestående. Betal venligst på {{ pay_url }}.\n\n{{ creditor }}",
        ),
        "zh": (
            "付款提醒",
            "尊敬的{{ name }}：\n\n我们的记录显示您尚有 {{ amount_due }} 未付。请通过 {{ pay_url }} 付款。\n\n{{ creditor }}",
        ),
    },
}


def rendition(template: str, channel: str, locale: str) -> dict[str, Any]:
    """One rendition of a demo template for a channel and locale, with its opt-out."""
    title, text = TEXT.get(template, TEXT["friendly"])[locale]
    if channel == "email":
        body = (
            f'<p>{text}</p><p><a href="{{{{ pay_url }}}}">{PAY[locale]}</a></p>'
            f'<p><small><a href="{{{{ opt_out_url }}}}">{UNSUBSCRIBE[locale]}</a></small></p>'
        )
        return {"channel": channel, "locale": locale, "subject": title, "body": body}
    if channel == "sms":
        return {
            "channel": channel,
            "locale": locale,
            "body": f"{text} {{{{ pay_url }}}} {STOP[locale]}",
        }
    if channel == "push":
        return {"channel": channel, "locale": locale, "title": title, "body": text}
    return {"channel": channel, "locale": locale, "body": text}

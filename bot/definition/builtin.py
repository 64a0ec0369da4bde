"""Intents every bot gets; a bot definition overrides one by using its name."""

from __future__ import annotations

from typing import Any

GREETING = "greeting"
HELP = "help"
HUMAN_HANDOFF = "human_handoff"
RESET = "reset"
OPT_OUT = "opt_out"
OPT_IN = "opt_in"
THANKS_GOODBYE = "thanks_goodbye"
OUT_OF_SCOPE = "out_of_scope"
BACK_TO_BOT = "back_to_bot"
#: not a real intent: what a turn is recorded as when the bot asks "Did you mean …?"
CLARIFY = "clarify"

BUILTIN_INTENT_DATA: list[dict[str, Any]] = [
    {"name": GREETING, "title": "Say hello", "inheritable": False,
     "route": {"type": "direct", "handler": GREETING},
     "examples": ["hi", "hello", "hey", "hey there", "good morning", "good evening",
                  "hi, anyone there?", "hello!", "hiya", "yo", "howdy", "morning",
                  "hi there, how are you?", "greetings", "hello, is this the bot?"]},
    {"name": HELP, "title": "What can you do?", "inheritable": False,
     "route": {"type": "direct", "handler": HELP},
     "examples": ["help", "what can you do", "what can I ask you", "menu", "options",
                  "how does this work", "show me the menu", "what are my options",
                  "I need help", "what do you do", "how can you help me", "commands",
                  "what kind of things can you help with", "start"]},
    {"name": HUMAN_HANDOFF, "title": "Talk to a person", "inheritable": False,
     "route": {"type": "direct", "handler": HUMAN_HANDOFF},
     "examples": ["speak with a human", "talk to a person", "I want to talk to someone",
                  "can I speak to a real person", "connect me to an agent", "human please",
                  "get me a human", "I need to speak with staff", "customer service",
                  "let me talk to a representative", "is there a real person there",
                  "transfer me to an operator", "I'd like to talk to someone from the team",
                  "put me through to support", "operator", "agent please",
                  "can a person call me", "I don't want a bot"]},
    {"name": RESET, "title": "Start over", "inheritable": False,
     "route": {"type": "direct", "handler": RESET},
     "examples": ["start over", "reset", "new conversation", "let's start again",
                  "forget this conversation", "restart", "clear the chat", "begin again",
                  "start a new chat", "reset the conversation"]},
    {"name": OPT_OUT, "title": "Stop messages", "inheritable": False,
     "route": {"type": "direct", "handler": OPT_OUT},
     "examples": ["stop", "unsubscribe", "stop messaging me", "don't message me anymore",
                  "opt out", "stop sending me messages", "remove me from your list",
                  "cancel all messages", "I don't want any more messages", "end"]},
    {"name": OPT_IN, "title": "Resume messages", "inheritable": False,
     "route": {"type": "direct", "handler": OPT_IN},
     "examples": ["start messages", "subscribe", "opt in", "resume messages",
                  "you can message me again", "unstop", "sign me up again",
                  "turn messages back on"]},
    {"name": THANKS_GOODBYE, "title": "Thanks / bye", "inheritable": False,
     "route": {"type": "direct", "handler": THANKS_GOODBYE},
     "examples": ["thanks", "thank you", "thanks a lot", "cheers", "bye", "goodbye",
                  "see you", "that's all", "ok thanks bye", "great, thank you",
                  "perfect thanks", "awesome, that's everything", "have a nice day",
                  "thx", "ty"]},
    {"name": BACK_TO_BOT, "title": "Back to the bot", "inheritable": False,
     "route": {"type": "direct", "handler": BACK_TO_BOT},
     "examples": ["back to the bot", "I want to talk to the bot again", "return to the bot",
                  "let the bot answer", "switch back to the assistant", "bot please",
                  "I'll continue with the bot", "go back to automatic answers",
                  "never mind the person, back to bot"]},
    {"name": OUT_OF_SCOPE, "title": "Something else", "inheritable": False,
     "route": {"type": "direct", "handler": OUT_OF_SCOPE},
     "examples": ["what's the capital of France", "tell me a joke", "who won the game last night",
                  "write me a poem", "what is the meaning of life", "how do I fix my car",
                  "what's the weather on mars", "can you do my homework",
                  "translate this into Japanese", "what's bitcoin trading at",
                  "recommend a movie", "how tall is mount everest"]},
]

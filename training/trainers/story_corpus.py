"""A story-style corpus generated from templates with a fixed seed, so a tiny model learns it in minutes.

Real prose needs hours of training; simple, repetitive stories let a 1M-parameter model write
recognisable sentences after about a minute on a laptop CPU. Nothing is downloaded.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

NAMES = ["Lily", "Tom", "Mia", "Ben", "Sara", "Max", "Anna", "Leo", "Zoe", "Sam", "Lucy", "Jack"]
ANIMALS = ["cat", "dog", "bird", "rabbit", "fox", "bear", "duck", "frog", "mouse", "owl"]
ADJECTIVES = ["little", "happy", "brave", "small", "kind", "shy", "curious", "sleepy", "funny", "gentle"]
PLACES = ["park", "garden", "forest", "house", "school", "river", "hill", "beach", "farm", "yard"]
THINGS = ["ball", "kite", "box", "hat", "book", "cake", "flower", "stone", "boat", "apple"]
COLOURS = ["red", "blue", "green", "yellow", "big", "shiny", "soft", "old", "pretty", "round"]
ACTIVITIES = ["play", "run", "sing", "read", "dance", "jump", "draw", "swim", "climb", "paint"]
FEELINGS = ["happy", "sad", "scared", "excited", "tired", "proud", "surprised", "angry"]
GLAD = ["happy", "proud", "glad", "calm"]
GIRLS = {"Lily", "Mia", "Sara", "Anna", "Zoe", "Lucy"}
FRIENDS = ["mom", "dad", "friend", "sister", "brother", "teacher", "grandma", "neighbour"]

OPENINGS = [
    "Once upon a time, there was a {adj} {animal} named {name}.",
    "One day, {name} went to the {place} with {pronoun} {friend}.",
    "There was a {adj} {child} named {name} who loved to {activity}.",
    "Once upon a time, a {adj} {child} named {name} lived near the {place}.",
]
MIDDLES = [
    "{Name} liked to {activity} in the {place} every day.",
    "{Name} saw a {colour} {thing} under a tree.",
    "{Name} found a {colour} {thing} and wanted to keep it.",
    "The {animal} wanted to {activity} with {name}.",
    "{Name} felt {feeling} because the {thing} was gone.",
    '{Name} asked {pronoun} {friend}, "Can we {activity} today?"',
    '{Pronoun} {friend} said, "Yes, let us go to the {place}."',
    "They played with the {colour} {thing} all day long.",
    "{Name} and the {animal} became good friends.",
    "It started to rain, so {name} ran back to the {place}.",
]
ENDINGS = [
    "{Name} was very {glad} and smiled.",
    "From that day on, {name} always shared the {thing}.",
    "At the end of the day, {name} went home and slept well.",
    "{Name} learned that it is good to be kind.",
    "They laughed and had a lot of fun together.",
]


@dataclass(frozen=True)
class Story:
    prompt: str  # the opening sentence
    completion: str  # the rest of the story


def _fill(template: str, slots: dict[str, str]) -> str:
    return template.format(**slots, Name=slots["name"], Pronoun=slots["pronoun"].capitalize())


def story(rng: random.Random) -> Story:
    """One short story: an opening, two or three middle sentences, an ending."""
    name = rng.choice(NAMES)
    girl = name in GIRLS
    slots = {
        "name": name,
        "pronoun": "her" if girl else "his",
        "child": "girl" if girl else "boy",
        "glad": rng.choice(GLAD),
        "adj": rng.choice(ADJECTIVES),
        "animal": rng.choice(ANIMALS),
        "place": rng.choice(PLACES),
        "thing": rng.choice(THINGS),
        "colour": rng.choice(COLOURS),
        "activity": rng.choice(ACTIVITIES),
        "feeling": rng.choice(FEELINGS),
        "friend": rng.choice(FRIENDS),
    }
    middle = rng.sample(MIDDLES, rng.randint(2, 3))
    rest = [_fill(t, slots) for t in [*middle, rng.choice(ENDINGS)]]
    return Story(prompt=_fill(rng.choice(OPENINGS), slots), completion=" ".join(rest))


def stories(count: int, *, seed: int = 1234) -> list[Story]:
    """`count` stories, always the same ones for the same seed."""
    rng = random.Random(seed)
    return [story(rng) for _ in range(count)]


def story_text(item: Story) -> str:
    return f"{item.prompt} {item.completion}"


def prompt_of(item: Story) -> str:
    """The opening sentence without its last word: a prompt the model can finish ("... a brave fox named")."""
    return " ".join(item.prompt.rstrip(".").split()[:-1])


def demo_prompts(count: int, *, seed: int = 4321) -> list[str]:
    """`count` distinct story openings to try a model with, always the same for the same seed."""
    rng = random.Random(seed)
    found: dict[str, None] = {}
    while len(found) < count:
        found[prompt_of(story(rng))] = None
    return list(found)

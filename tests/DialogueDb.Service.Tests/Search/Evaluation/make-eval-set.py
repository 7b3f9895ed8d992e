#!/usr/bin/env python3
"""Writes search-eval.json: the search evaluation set made for this project (issue 13).

Labelled targets are written by hand, each with one query: 30 paraphrases (little word overlap with the target), 15 exact
identifiers (with near-miss distractors such as ORD-58214 beside ORD-58213) and 15 lexical queries (the target's rare
words). Distractors are generated from templates with a fixed seed, so the file is reproducible:
python3 make-eval-set.py
"""
import json
import random

# (key, object, target text, query kind, query)
TARGETS = [
    # paraphrases: memories
    ("p01", "memory", "The user is allergic to peanuts and carries an epinephrine pen.", "paraphrase", "which food reaction could be dangerous for me?"),
    ("p02", "memory", "My daughter Emma starts kindergarten this September.", "paraphrase", "when does my kid begin school?"),
    ("p03", "memory", "I drive a blue 2019 Subaru Outback.", "paraphrase", "what vehicle do I own?"),
    ("p04", "memory", "The user works night shifts as an ICU nurse at St. Mary's hospital.", "paraphrase", "what is my occupation in medicine?"),
    ("p05", "memory", "We adopted a tabby cat named Pickles from the shelter last spring.", "paraphrase", "tell me about our pet kitten"),
    ("p06", "memory", "I'm training for the Berlin marathon in October.", "paraphrase", "which long-distance running race am I preparing for?"),
    ("p07", "memory", "The user prefers vegetarian recipes without mushrooms.", "paraphrase", "meal preferences and foods I avoid"),
    ("p08", "memory", "My flight to Tokyo departs from Heathrow at 9:40 on March 3rd.", "paraphrase", "when is my trip to Japan leaving?"),
    ("p09", "memory", "I play bass guitar in a jazz trio on weekends.", "paraphrase", "what musical instrument do I perform with?"),
    ("p10", "memory", "The apartment lease renews on July 1 and rent goes up by 4%.", "paraphrase", "when does my housing contract get extended?"),
    ("p11", "memory", "Our wedding anniversary is on the 14th of August.", "paraphrase", "the date we got married"),
    ("p12", "memory", "The user is learning Portuguese with an online tutor twice a week.", "paraphrase", "which foreign language classes am I taking?"),
    ("p13", "memory", "I get migraines when I skip my morning coffee.", "paraphrase", "what gives me bad headaches?"),
    ("p14", "memory", "My manager Priya approved two weeks of vacation in December.", "paraphrase", "who signed off on my holiday leave?"),
    ("p15", "memory", "The basement flooded after the storm and the carpet had to be replaced.", "paraphrase", "water damage in the house"),
    ("p16", "memory", "I'm saving for a down payment on a house, about 60,000 dollars.", "paraphrase", "how much money must I put aside to buy a home?"),
    ("p17", "memory", "The user's grandmother turns ninety next Tuesday.", "paraphrase", "upcoming birthday of an elderly relative"),
    ("p18", "memory", "I switched from an iPhone to a Pixel phone last month.", "paraphrase", "what mobile handset do I use now?"),
    ("p19", "memory", "We are renovating the kitchen with oak cabinets and a quartz countertop.", "paraphrase", "home remodeling plans"),
    ("p20", "memory", "The user volunteers at the food bank every Saturday morning.", "paraphrase", "charity work I do at weekends"),
    # paraphrases: messages
    ("p21", "message", "The deployment failed because the database migration timed out.", "paraphrase", "why did the release go wrong?"),
    ("p22", "message", "Can you remind me to call the dentist tomorrow at noon?", "paraphrase", "tooth doctor appointment reminder"),
    ("p23", "message", "The quarterly sales figures dropped 12 percent compared to last year.", "paraphrase", "revenue decline in the recent period"),
    ("p24", "message", "My laptop battery drains within an hour even when idle.", "paraphrase", "notebook computer power problem"),
    ("p25", "message", "Please cancel my gym membership before the next billing cycle.", "paraphrase", "stop my fitness club subscription"),
    ("p26", "message", "The heating in the office stopped working this morning.", "paraphrase", "radiators broken at my workplace"),
    ("p27", "message", "I lost my wallet on the subway with my ID and two credit cards.", "paraphrase", "missing purse on the metro train"),
    ("p28", "message", "The recipe needs two cups of flour, three eggs and a pinch of salt.", "paraphrase", "baking ingredients list"),
    ("p29", "message", "Our team is hiring a senior backend engineer who knows Go.", "paraphrase", "job opening for a server-side developer"),
    ("p30", "message", "The kids have the flu so I will work from home this week.", "paraphrase", "children ill, remote job for a few days"),
    # exact identifiers
    ("i01", "message", "Order ORD-58213 shipped yesterday via the express courier.", "identifier", "ORD-58213"),
    ("i02", "message", "Support ticket TKT-4471 about the login loop is still open.", "identifier", "TKT-4471"),
    ("i03", "memory", "The error code E_CONN_REFUSED_0x2F appears whenever the VPN drops.", "identifier", "E_CONN_REFUSED_0x2F"),
    ("i04", "memory", "Invoice INV-2024-0042 for 1,250 EUR is due on the 15th.", "identifier", "INV-2024-0042"),
    ("i05", "memory", "Router serial SN-7Q4K-99XZ needs a firmware update.", "identifier", "SN-7Q4K-99XZ"),
    ("i06", "message", "Booking reference XK7P2M is for the hotel in Lisbon.", "identifier", "XK7P2M"),
    ("i07", "message", "Pull request 8812 fixes the race condition in the cache layer.", "identifier", "PR 8812"),
    ("i08", "memory", "Customer account ACC-009931 was upgraded to the pro plan.", "identifier", "ACC-009931"),
    ("i09", "message", "Flight LH1234 was delayed by two hours.", "identifier", "LH1234"),
    ("i10", "memory", "Use the promo code SPRING25OFF at checkout.", "identifier", "SPRING25OFF"),
    ("i11", "message", "The sensor reported error 0xDEADBEEF after the reboot.", "identifier", "0xDEADBEEF"),
    ("i12", "memory", "Policy number HZ-551-203-77 covers the car insurance.", "identifier", "HZ-551-203-77"),
    ("i13", "memory", "The parcel locker code is 4829-1177 at the central station.", "identifier", "4829-1177"),
    ("i14", "message", "Commit a3f9c2e introduced the regression in search ranking.", "identifier", "a3f9c2e"),
    ("i15", "memory", "Meeting room B-204 is booked for the offsite planning.", "identifier", "B-204"),
    # lexical: the target's rarer words
    ("l01", "memory", "Feed the sourdough starter every twelve hours with rye flour.", "lexical", "sourdough starter rye"),
    ("l02", "memory", "The greenhouse tomatoes got blight, so I sprayed copper fungicide.", "lexical", "tomato blight fungicide"),
    ("l03", "message", "Kayak rental at the lake costs 30 dollars per hour.", "lexical", "kayak rental lake price"),
    ("l04", "memory", "The chess club meets Thursdays in the library annex.", "lexical", "chess club library"),
    ("l05", "message", "I need to renew my passport before the Canada trip.", "lexical", "renew passport Canada"),
    ("l06", "message", "Our Kubernetes cluster autoscaler keeps evicting the ingress pods.", "lexical", "autoscaler evicting ingress pods"),
    ("l07", "memory", "Grandpa's watercolor paintings will be exhibited at the town gallery.", "lexical", "watercolor paintings gallery"),
    ("l08", "memory", "Solar panels on the garage roof produced 410 kWh in June.", "lexical", "solar panels garage kWh"),
    ("l09", "message", "The violin lessons moved to Wednesday afternoons.", "lexical", "violin lessons Wednesday"),
    ("l10", "memory", "Mortgage interest rate locked at 3.9 percent for ten years.", "lexical", "mortgage interest rate locked"),
    ("l11", "memory", "The beehive swarmed and we caught the queen in a nuc box.", "lexical", "beehive swarm queen"),
    ("l12", "memory", "Remember descaling the espresso machine every two months.", "lexical", "descaling espresso machine"),
    ("l13", "message", "Thesis defense scheduled with Professor Okafor in the physics building.", "lexical", "thesis defense Okafor"),
    ("l14", "message", "The snowboard bindings need new straps before the Alps trip.", "lexical", "snowboard bindings straps"),
    ("l15", "memory", "The compost bin attracts fruit flies, add more dry leaves.", "lexical", "compost fruit flies leaves"),
]

NEAR_MISSES = [
    ("message", "Order ORD-58214 was returned by the customer."),
    ("message", "Order ORD-58212 is waiting for payment."),
    ("message", "Support ticket TKT-4472 about password resets was closed."),
    ("memory", "The error code E_CONN_TIMEOUT_0x2E shows up on slow networks."),
    ("memory", "Invoice INV-2024-0041 for 980 EUR was paid in full."),
    ("memory", "Invoice INV-2023-0042 was archived last year."),
    ("memory", "Router serial SN-7Q4K-99XY was sent back for repair."),
    ("message", "Booking reference XK7P2N is for the rental car."),
    ("message", "Pull request 8813 updates the documentation."),
    ("memory", "Customer account ACC-009932 cancelled the starter plan."),
    ("message", "Flight LH1235 left on time."),
    ("memory", "The promo code SUMMER25OFF expired in August."),
    ("message", "The sensor reported error 0xBADC0FFE during calibration."),
    ("memory", "Policy number HZ-551-203-78 covers the home contents."),
    ("memory", "The bike locker code is 4829-1178 at the gym."),
    ("message", "Commit a3f9c2f reverted the logging change."),
    ("memory", "Meeting room B-205 is free on Fridays."),
]

PEOPLE = ["my brother", "my sister", "my neighbour", "a colleague", "my cousin", "our landlord", "my best friend", "the coach",
          "my aunt", "our accountant", "the plumber", "my roommate"]
PLACES = ["the park", "the downtown office", "the airport", "the bakery", "the library", "the train station", "the supermarket",
          "the clinic", "the stadium", "the harbour", "the museum", "the school"]
THINGS = ["a new printer", "concert tickets", "the quarterly report", "a birthday present", "winter tyres", "a yoga mat",
          "the project slides", "a garden hose", "noise-cancelling headphones", "a standing desk", "a rain jacket",
          "the tax forms", "a coffee grinder", "a board game", "hiking boots"]
TIMES = ["on Monday", "next Friday", "this weekend", "in the evening", "before lunch", "at the end of the month", "tomorrow",
         "last night", "two days ago", "after the holidays", "early in the morning", "during the break"]
TEMPLATES = [
    "{person} will meet me at {place} {time}.",
    "I need to pick up {thing} from {place} {time}.",
    "{person} recommended buying {thing}.",
    "Don't forget to email {person} about {thing} {time}.",
    "We talked about {thing} with {person} at {place}.",
    "The delivery of {thing} is expected {time}.",
    "{person} borrowed {thing} and returns it {time}.",
    "I left {thing} at {place} {time}.",
    "Ask {person} whether {place} is open {time}.",
    "Compare prices for {thing} before buying it {time}.",
    "The meeting with {person} at {place} moved to {time}.",
    "I promised {person} to bring {thing} {time}.",
]


def main():
    rng = random.Random(13)
    items, queries = [], []
    for key, obj, text, kind, query in TARGETS:
        items.append({"key": key, "object": obj, "text": text})
        queries.append({"query": query, "kind": kind, "object": obj, "relevant": [key]})
    for n, (obj, text) in enumerate(NEAR_MISSES, 1):
        items.append({"key": f"n{n:02d}", "object": obj, "text": text})
    seen = {i["text"] for i in items}
    n = 0
    while len(items) < 320:
        text = rng.choice(TEMPLATES).format(person=rng.choice(PEOPLE), place=rng.choice(PLACES), thing=rng.choice(THINGS),
                                            time=rng.choice(TIMES))
        text = text[0].upper() + text[1:]
        if text in seen:
            continue
        seen.add(text)
        n += 1
        items.append({"key": f"d{n:03d}", "object": "memory" if n % 2 else "message", "text": text})
    rng.shuffle(items)
    # Messages live in dialogues of up to 8 messages, in this shuffled order.
    dialogue, count = 0, 0
    for item in items:
        if item["object"] == "message":
            if count % 8 == 0:
                dialogue += 1
            item["dialogue"] = f"dlg{dialogue:02d}"
            count += 1
    with open("search-eval.json", "w") as f:
        json.dump({"items": items, "queries": queries}, f, indent=1)
        f.write("\n")
    print(len(items), "items,", len(queries), "queries")


main()

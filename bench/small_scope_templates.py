"""Templates of everyday chat for bench/small_scopes.py: what users tell an assistant, what it
answers, and the paraphrased questions asked later.

Three patterns, each with the turn that answers its question:

- ``Stated``: the user states a fact; the assistant acknowledges it, echoing the topic (often
  a word of the later question) without repeating the answer.
- ``Corrected``: the same, then a later correction ("actually it moved to Thursday"), which is
  the answer; the first statement is stale.
- ``Answered``: the user asks something and the assistant's reply holds the answer; later the
  user asks what the assistant said.

Questions are paraphrases: they share as few words with their answer as natural speech allows.
Nothing here comes from a benchmark data set.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stated:
    fact: str
    ack: str
    question: str


@dataclass(frozen=True)
class Corrected:
    fact: str
    ack: str
    correction: str
    question: str


@dataclass(frozen=True)
class Answered:
    ask: str
    answer: str
    question: str


STATED = [
    Stated(
        "My cat is called Quetzalcoatl and she hates the vet.",
        "Noted, I will remember your cat's name.",
        "What is my pet's name?",
    ),
    Stated(
        "The office wifi password is on the fridge.",
        "Thanks, noted.",
        "Where can I find the code for the internet at work?",
    ),
    Stated(
        "I'm allergic to peanuts, even a trace sends me to hospital.",
        "That sounds serious, I'll keep your allergy in mind.",
        "Is there any food I have to avoid?",
    ),
    Stated(
        "My sister Ingrid lives in Tromsø with her two boys.",
        "How lovely that you have family up north!",
        "Where does my sibling live?",
    ),
    Stated(
        "I drive a 2014 Volvo V70, dark blue.",
        "Nice car! Volvos last forever.",
        "What vehicle do I own?",
    ),
    Stated(
        "Our wedding anniversary is the 14th of June.",
        "I'll remember your anniversary, that's a special date.",
        "When did my spouse and I get married?",
    ),
    Stated(
        "I work night shifts as a nurse at St Mary's.",
        "Night shifts must be tough. Thank you for the work you do.",
        "What is my job?",
    ),
    Stated(
        "My blood type is O negative.",
        "Good to know, I have noted your blood type.",
        "Which blood group do I belong to?",
    ),
    Stated(
        "I take 50 mg of sertraline every morning.",
        "Thanks for telling me about your medication.",
        "What medicine am I on, and how much?",
    ),
    Stated(
        "My landlord is Mr Okafor, he lives downstairs.",
        "Good that your landlord is close by if something breaks.",
        "Who do I rent my flat from?",
    ),
    Stated(
        "I run a 5k every Tuesday and Saturday along the canal.",
        "Running is such a great habit!",
        "How often do I go jogging?",
    ),
    Stated(
        "My son Teo is seven and obsessed with dinosaurs.",
        "Kids that age love dinosaurs, that's so sweet.",
        "How old is my boy?",
    ),
    Stated(
        "I keep the spare house key under the blue flowerpot by the back door.",
        "Okay, I'll remember where the spare key is.",
        "Where did I hide the extra key to my home?",
    ),
    Stated(
        "My favourite band is Khruangbin, I've seen them live four times.",
        "Great taste in music!",
        "Which group do I like listening to most?",
    ),
    Stated(
        "I'm learning Portuguese because we're moving to Lisbon next year.",
        "Learning the language before a move is smart.",
        "Why am I studying a new language?",
    ),
    Stated(
        "My dentist appointment is at 9:30 on the 3rd of March.",
        "Thanks, I've noted your appointment.",
        "When do I need to see the person who checks my teeth?",
    ),
    Stated(
        "I'm vegetarian but I still eat fish now and then.",
        "Noted, I'll keep that in mind when suggesting recipes.",
        "What is my diet like?",
    ),
    Stated(
        "Our team's standup is at 10:15 every weekday on the third floor.",
        "Good to know about the standup.",
        "What time is the daily team meeting?",
    ),
    Stated(
        "I broke my left wrist skiing in 2019 and it still aches in the cold.",
        "Ouch, old injuries can linger.",
        "Which bone did I fracture, and how?",
    ),
    Stated(
        "My grandmother's lasagne recipe uses nutmeg in the béchamel.",
        "What a lovely family recipe to have.",
        "What is the secret ingredient in Nana's pasta bake?",
    ),
    Stated(
        "I'm saving up for a sailing boat, I have about 8,000 euros so far.",
        "That's a fun goal, good luck with the saving!",
        "How much money have I put aside, and for what?",
    ),
    Stated(
        "My partner Sam can't stand cilantro.",
        "Noted about Sam and the herb.",
        "Which ingredient does my significant other dislike?",
    ),
    Stated(
        "The car insurance renews on October 1st with Aviva.",
        "Thanks, I'll remember the insurance renewal.",
        "Which company covers my vehicle, and when does the policy end?",
    ),
    Stated(
        "I grew up in a small village near Cork.",
        "Irish villages are beautiful, you must miss it.",
        "Where was I raised?",
    ),
    Stated(
        "My laptop is a ThinkPad X1 Carbon, the 2021 one.",
        "Those are great machines for work.",
        "What computer do I use?",
    ),
    Stated(
        "I'm afraid of heights, I can't even use glass elevators.",
        "That must make some buildings stressful.",
        "What phobia do I have?",
    ),
    Stated(
        "Book club meets at Priya's place on the last Thursday of the month.",
        "Sounds like a fun club!",
        "Where and when do we discuss novels together?",
    ),
    Stated(
        "My passport expires in August 2027.",
        "Good to keep an eye on that before travelling.",
        "How long is my travel document still valid?",
    ),
    Stated(
        "I prefer aisle seats on long flights, I get up a lot.",
        "Noted for when you book your next trip.",
        "Where do I like to sit on a plane?",
    ),
    Stated(
        "My daughter starts school in September at Greenfield Primary.",
        "Exciting times for her!",
        "Which school will my child attend?",
    ),
]

CORRECTED = [
    Corrected(
        "The quarterly budget review is on Wednesday at 3pm.",
        "Got it, I'll remember the budget review.",
        "Actually the budget review moved to Thursday at 11.",
        "When is the meeting about finances this quarter?",
    ),
    Corrected(
        "My new phone number is 0612 448 901.",
        "Thanks, I've saved your number.",
        "Sorry, I gave you a typo, my number is 0612 448 910.",
        "How can people call me?",
    ),
    Corrected(
        "We're flying to Athens on the 12th.",
        "Have a wonderful trip!",
        "Change of plan: the flight to Athens is on the 15th now.",
        "What day do we leave for Greece?",
    ),
    Corrected(
        "My gym membership is with PureFit on Elm Street.",
        "Good for you for staying active.",
        "I cancelled PureFit, I go to the climbing hall by the station now.",
        "Where do I exercise these days?",
    ),
    Corrected(
        "The plumber is coming Monday morning.",
        "Okay, noted for Monday.",
        "The plumber rescheduled, he comes Friday afternoon instead.",
        "When will the pipes be fixed?",
    ),
    Corrected(
        "I'm using Postgres 15 for the project database.",
        "Postgres is a solid choice.",
        "We upgraded the project database to Postgres 18 last week.",
        "Which version of the database server are we on?",
    ),
    Corrected(
        "My manager is Diane Holt.",
        "Thanks, noted who your manager is.",
        "Diane left the company, Marcus Webb is my boss now.",
        "Who do I report to at work?",
    ),
    Corrected(
        "The kids' swimming lesson is at 4pm on Wednesdays.",
        "Swimming is such a good skill for kids.",
        "They moved the kids' swimming to 5:30 on Wednesdays.",
        "What time do my children have their pool class?",
    ),
    Corrected(
        "Our new address is 22 Harbour Road.",
        "Congratulations on the move!",
        "Small fix: it's 28 Harbour Road, not 22.",
        "Where do we live now?",
    ),
    Corrected(
        "I ordered the oak dining table, delivery in two weeks.",
        "Exciting, a new table!",
        "I switched the order to the walnut table, it arrives next month.",
        "What furniture is being delivered, and when?",
    ),
    Corrected(
        "The dentist appointment is on the 9th at 10am.",
        "Okay, the 9th at 10.",
        "Oops, wrong date, the dentist is on the 19th at 10am.",
        "When do I see the dentist?",
    ),
    Corrected(
        "My sister's wedding is in Porto in June.",
        "How lovely, a wedding in Porto!",
        "The wedding got postponed to October, same place in Porto.",
        "When is my sibling getting married?",
    ),
    Corrected(
        "I take 20mg of atorvastatin every evening.",
        "Thanks, I've noted your medication.",
        "My doctor lowered my atorvastatin dose to 10mg.",
        "How much of my cholesterol medicine do I take?",
    ),
    Corrected(
        "The team standup is at 9:15 every morning.",
        "Noted, standup at 9:15.",
        "I made a mistake, the standup is at 9:45, not 9:15.",
        "What time is our daily team meeting?",
    ),
    Corrected(
        "Our landlord is Mr. Okafor, he lives downstairs.",
        "Good to have him close by.",
        "Mr. Okafor sold the building, our landlord is a company called Brickline now.",
        "Who owns the place we rent?",
    ),
    Corrected(
        "I drive a blue Honda Civic.",
        "Nice, Civics are reliable.",
        "I traded in the Civic last month, I drive a grey Toyota Corolla these days.",
        "What car do I have?",
    ),
]

ANSWERED = [
    Answered(
        "Can you suggest a name for our golden retriever puppy?",
        "How about Biscuit? It's warm, short and easy to call across a park.",
        "What did you propose we call the dog?",
    ),
    Answered(
        "How long should I boil an egg for a runny yolk?",
        "About six minutes from boiling water, then straight into cold water.",
        "What timing did you give me for soft eggs?",
    ),
    Answered(
        "What's a good stretch for lower back pain?",
        "Try the cat-cow: on all fours, slowly arch and round your spine for a minute.",
        "Which exercise did you recommend for my sore back?",
    ),
    Answered(
        "Which plants survive in a dark bathroom?",
        "A snake plant or a ZZ plant will cope with very little light.",
        "What greenery did you say would live without sun?",
    ),
    Answered(
        "How do I get red wine out of a carpet?",
        "Blot it, then dab with cold water and a little dish soap; never rub.",
        "What was your trick for the stain on the rug?",
    ),
    Answered(
        "What's the capital of Mongolia? My quiz team needs it.",
        "Ulaanbaatar. It's also the coldest capital city in the world.",
        "What answer did you give for the trivia question?",
    ),
    Answered(
        "How much should I tip in a restaurant in New York?",
        "Around 18 to 20 percent of the bill before tax is usual there.",
        "What gratuity did you advise for eating out in the US?",
    ),
    Answered(
        "What can I cook with leftover rice?",
        "Fried rice is the classic: a hot pan, an egg, soy sauce and any vegetables.",
        "What recipe did you propose for yesterday's grains?",
    ),
    Answered(
        "Any tips to fall asleep faster?",
        "Keep the same bedtime, no screens for an hour before, and a cool dark room.",
        "What did you tell me to do about my insomnia?",
    ),
    Answered(
        "What should I pack for a weekend in Edinburgh in March?",
        "Layers, a waterproof jacket and comfortable shoes: it can rain and be windy.",
        "What clothes did you recommend for the Scotland trip?",
    ),
]

# Everyday turns that answer none of the questions: small talk, both roles.
FILLER = [
    ("user", "Good morning!"),
    ("assistant", "Good morning! How can I help today?"),
    ("user", "Thanks, that's all for now."),
    ("assistant", "You're welcome, have a nice day."),
    ("user", "Can you remind me to call my mum tonight?"),
    ("assistant", "Sure, I'll remind you this evening."),
    ("user", "Ugh, Mondays."),
    ("assistant", "Hang in there, the week will get better."),
    ("user", "What's a good podcast for a long drive?"),
    ("assistant", "Try a story-driven one, the hours fly by."),
    ("user", "I had a great time at the concert yesterday."),
    ("assistant", "Glad you enjoyed it!"),
    ("user", "Can you help me write an email to a client?"),
    ("assistant", "Of course, what should it say?"),
    ("user", "Tell them the report will be a day late."),
    ("assistant", "Here's a draft that apologises and gives the new date."),
    ("user", "Perfect, sending it now."),
    ("assistant", "Great, let me know if you need anything else."),
    ("user", "It's raining again."),
    ("assistant", "Perfect weather for a cup of tea indoors."),
    ("user", "Lol yes"),
    ("assistant", "Anything else on your mind?"),
    ("user", "I'm so tired today."),
    ("assistant", "Try to get an early night if you can."),
    ("user", "What's 15% of 80?"),
    ("assistant", "It's 12."),
    ("user", "Thanks!"),
    ("assistant", "Happy to help."),
    ("user", "Can you summarise this article for me later?"),
    ("assistant", "Sure, paste it whenever you're ready."),
    ("user", "Never mind, I'll read it myself."),
    ("assistant", "No problem."),
    ("user", "What should I watch tonight?"),
    ("assistant", "A light comedy might be nice after a long day."),
    ("user", "Ok cool"),
    ("assistant", "Enjoy your evening!"),
    ("user", "How do you say thank you in Japanese?"),
    ("assistant", "Arigatou gozaimasu."),
    ("user", "I finally finished that puzzle."),
    ("assistant", "Well done, that's satisfying!"),
]

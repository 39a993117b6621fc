"""Templates of the long-turn suite (bench/long_turns.py): long assistant answers on five
subjects, each written as paragraphs that are assembled into turns of 300-1,500 words, and
twenty facts, each placed at the start, the middle or the end of an answer on a subject near
its own, with a question that asks for it in other words (no keyword in common)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    asks: tuple[str, str]  # what the user asked, which the long answers respond to
    paragraphs: tuple[str, ...]


@dataclass(frozen=True)
class Fact:
    topic: str
    fact: str
    question: str


TOPICS = {
    "travel": Topic(
        asks=(
            "Can you help me plan four days in Lisbon?",
            "What else should I know before we go to Portugal?",
        ),
        paragraphs=(
            "Lisbon is built on seven hills, so plan each day around one area rather than "
            "criss-crossing the city. Alfama and the castle make a good first morning: go early, "
            "before the tour groups arrive, and wander downhill through the lanes towards the "
            "river. Baixa and Chiado sit next to each other and work well for an afternoon, with "
            "plenty of cafés for a break when your legs start complaining about the cobbles.",
            "The number 28 tram is famous, but it is also packed from ten in the morning until "
            "late afternoon and is a favourite spot for pickpockets. If you want the ride without "
            "the crush, board at Martim Moniz before nine, or take the quieter 12, which loops "
            "around the same old streets. A Viva Viagem card loaded with credit covers trams, "
            "buses, the metro and the boats across the river, and it is cheaper than paying the "
            "driver.",
            "For food, skip the restaurants with picture menus on the main squares and walk two "
            "streets back. Tascas are small family places with a short handwritten list of the "
            "day's dishes; grilled sardines, bacalhau à brás and bifana sandwiches are the "
            "classics. Lunch is the main meal for many locals, and a prato do dia with soup, a "
            "main and a coffee often costs less than a single cocktail in the tourist bars.",
            "Sintra is the obvious day trip and it deserves a full day. Trains leave Rossio "
            "station every twenty minutes and take about forty minutes. Once there, the palaces "
            "are spread over a steep hill, so buy timed tickets online for Pena and use the 434 "
            "bus between the sights rather than walking the road. Quinta da Regaleira is smaller "
            "but more fun, with its initiation well and tunnels, and it gets less crowded after "
            "three.",
            "If the weather turns, the Gulbenkian museum is a calm place to spend a few hours, "
            "and the garden around it is lovely even in drizzle. The tile museum, the Museu "
            "Nacional do Azulejo, is a little out of the centre but worth the bus ride, "
            "especially the long panorama of the city before the earthquake of 1755. Both are "
            "closed on Tuesdays, which catches a lot of visitors out.",
            "Evenings start late. Most people in Lisbon eat at nine, and the bars of Bairro Alto "
            "only fill up after eleven, when crowds drift from one doorway to the next with a "
            "plastic cup in hand. For something quieter, the miradouros, the city's viewpoints, "
            "are at their best at sunset; Senhora do Monte is higher and less crowded than Santa "
            "Luzia, and you can bring your own wine and snacks.",
            "Belém needs half a day. The monastery of Jerónimos is the highlight, and the queue "
            "for the church is much shorter than the one for the cloister, so do the church "
            "first and decide afterwards. The custard tarts at the old bakery near the monastery "
            "really are better than elsewhere, and the counter inside moves faster than the "
            "takeaway queue outside, even when it looks full.",
            "Getting in from the airport is easy: the red metro line runs straight into the "
            "centre in about twenty-five minutes, and a cab or ride-share costs around fifteen "
            "euros outside rush hour. Keep some coins for small purchases, because a few older "
            "cafés still do not take cards for amounts under five euros, and tipping is modest, "
            "usually rounding up or leaving a euro or two.",
            "Pack comfortable shoes with some grip. The pavements are made of polished limestone "
            "that becomes slippery after rain, and many streets are stairs rather than roads. A "
            "light layer is useful even in summer, because the wind off the Atlantic picks up "
            "towards sunset, and the crossing to Cacilhas can be surprisingly cold on deck.",
            "If you have an extra day, Cascais and the coast are an easy train ride from Cais do "
            "Sodré along the estuary. The beaches near the town are small and busy at weekends, "
            "but a rented bicycle along the seafront path to Guincho gives you dramatic cliffs "
            "and surfers, and the fish restaurants near the harbour are good value at lunchtime.",
        ),
    ),
    "cooking": Topic(
        asks=(
            "I'm hosting eight people for dinner next month, any advice on the menu?",
            "How do I get better at cooking for a crowd?",
        ),
        paragraphs=(
            "For a dinner for eight, choose dishes that can be finished ahead so you are not "
            "stuck at the stove while everyone else is talking. A slow braise is ideal: lamb "
            "shoulder with garlic, rosemary and white beans can go into a low oven three hours "
            "before guests arrive and only gets better if it waits. Make the dessert the day "
            "before, and leave yourself one simple last-minute task, like dressing a salad.",
            "Start with something people can pick at while drinks are poured. A board of good "
            "bread, marinated olives, a soft cheese and some sliced radishes with butter and "
            "flaky salt takes ten minutes to assemble and looks generous. If you want one warm "
            "starter, blistered padrón peppers are quick in a hot pan and only need a squeeze of "
            "lemon at the end.",
            "Seasoning is where home cooking most often falls short. Taste the braising liquid at "
            "the end and adjust it then, not at the start, because it will reduce and "
            "concentrate. A spoon of vinegar or a squeeze of lemon will lift a heavy sauce more "
            "than extra salt will, and a handful of chopped parsley or mint stirred through just "
            "before serving adds freshness.",
            "For the salad, bitter leaves such as radicchio, chicory and watercress stand up to "
            "a rich main course better than soft lettuce. Make the dressing in a jar, three "
            "parts olive oil to one part vinegar with a little mustard and honey, shake it hard, "
            "and toss the leaves only at the table so they stay crisp. Toasted seeds or croutons "
            "give it some crunch.",
            "A lemon tart or a chocolate mousse both keep well overnight in the fridge. The "
            "mousse is the easier of the two: melt dark chocolate with a little butter, fold in "
            "whipped cream and beaten egg whites, and spoon it into small glasses. Take it out "
            "half an hour before serving so it softens, and add a few raspberries or a pinch of "
            "sea salt on top.",
            "Baking your own loaf is worth the effort if you enjoy it, but it needs planning. A "
            "high-hydration dough wants a long, cold rise overnight, which develops flavour and "
            "makes the loaf easier to shape in the morning. Bake it in a preheated lidded pot for "
            "the first twenty minutes to trap the steam, then take the lid off so the crust can "
            "darken and crackle.",
            "On quantities, allow about 250 grams of boneless meat per person, or 400 grams if "
            "it is on the bone, and a bit more if the group is hungry or the evening is long. "
            "Potatoes, beans or bread stretch a main course a long way, so you do not need to "
            "overbuy the expensive part. Leftover braise freezes well and makes an excellent "
            "pasta sauce later in the week.",
            "Drinks are easier if you pick one white and one red and buy a case of each rather "
            "than many different bottles. A dry Portuguese white or a Picpoul goes with nearly "
            "any starter, and a Rioja or Côtes du Rhône works with lamb. Put out a jug of water "
            "with lemon slices and have something interesting without alcohol, such as ginger "
            "beer, for anyone who is driving.",
            "Write a simple timeline the day before and stick it to a cupboard door: when the "
            "meat goes in, when the potatoes go on, when the bread needs the heat. It sounds "
            "fussy, but it stops the familiar moment where three things need the same shelf at "
            "once. Empty the rack of clean plates before guests arrive so dirty ones have "
            "somewhere to go between courses.",
            "Knives matter more than gadgets. One sharp chef's knife, a serrated bread knife and "
            "a small paring knife cover almost everything, and a whetstone used every couple of "
            "weeks keeps them safe, because a blunt blade slips. Wooden boards are kinder to the "
            "edge than glass or stone, and a damp cloth underneath stops them sliding.",
        ),
    ),
    "home": Topic(
        asks=(
            "We just got the keys to the new flat, where do we start with the renovation?",
            "Any tips for doing up an older house on a budget?",
        ),
        paragraphs=(
            "Before you start on any room, walk through the whole place with a notebook and list "
            "what needs doing in the order it has to happen. Anything that makes dust or mess, "
            "like sanding, plastering or chasing cables into walls, comes first; decorating "
            "comes after that; floors and fitted furniture come last. Doing it the other way "
            "round means protecting new surfaces from work that could have been finished earlier.",
            "Preparation is most of a good decorating job. Fill cracks with a flexible filler, "
            "sand the patches flush once they are dry, and wipe the walls down with sugar soap so "
            "the new coat has a clean surface to grip. Cut in around the edges with a brush "
            "first, then roll the middle while the edges are still wet, which avoids the visible "
            "frame you sometimes see on rushed walls.",
            "In the bathroom, check the silicone around the bath and the shower tray before "
            "anything else. Black mould behind the seal usually means moisture has already got "
            "in, and it is worth cutting the old bead out completely rather than running new "
            "silicone over it. Let the new seal cure for a full day before anyone showers, and "
            "keep the extractor fan running for longer than you think.",
            "Damp in older houses is often condensation rather than anything structural. Drying "
            "clothes indoors, cooking without a lid and closed windows in winter all put litres "
            "of moisture into the air, which then settles on the coldest walls. A cheap "
            "hygrometer will tell you whether the humidity stays above sixty per cent; if it "
            "does, a dehumidifier and a habit of airing the rooms each morning usually fix it.",
            "Flooring is a big decision because it is expensive to change later. Engineered oak "
            "looks like solid wood, copes better with underfloor warmth and can be sanded once "
            "or twice in its life. Good quality vinyl planks are warmer and quieter underfoot "
            "and shrug off spills, which makes them a sensible choice for a kitchen or a "
            "utility room that sees muddy boots.",
            "Get at least three quotes for anything that involves electrics or gas, and ask each "
            "tradesperson what they would do differently, not just what it costs. The cheapest "
            "quote often leaves things out that appear later as extras. Check that electricians "
            "are registered with a competent person scheme, so the work is certified, because "
            "you will need that paperwork when you sell.",
            "Storage makes a small flat feel bigger than any colour scheme. Built-in cupboards in "
            "alcoves, a bed with drawers underneath and shelves above door frames use space that "
            "would otherwise be wasted. Keep the floor as clear as possible, because seeing more "
            "floor makes a room read as larger, and choose furniture on legs rather than solid "
            "bases.",
            "Lighting changes how a room feels more than people expect. A single ceiling pendant "
            "gives flat, unflattering light; three or four sources at different heights, such as "
            "a floor lamp, a table lamp and a few wall lights, make a room warmer in the evening. "
            "Warm white bulbs around 2700 kelvin suit living rooms, while a kitchen worktop needs "
            "something brighter.",
            "Keep a folder, paper or digital, for everything to do with the house: receipts, "
            "guarantees, certificates, the manuals for the appliances and photos of where cables "
            "run before the walls are closed up. It feels unnecessary at the time, but it saves "
            "hours when something breaks, and buyers and surveyors ask for most of it.",
            "Set aside a contingency of around fifteen per cent of the budget for surprises. Old "
            "houses in particular hide things: rotten joists under a bathroom floor, wiring that "
            "needs replacing once a wall is opened, or a chimney breast that is not supported the "
            "way anyone assumed. It is much less stressful to spend the contingency than to find "
            "money you do not have halfway through.",
        ),
    ),
    "running": Topic(
        asks=(
            "I signed up for my first half marathon, how should I train?",
            "How do I avoid getting injured while I build up my running?",
        ),
        paragraphs=(
            "For a first half marathon, a plan of twelve to sixteen weeks with three or four runs "
            "a week is plenty. Most of those runs should be easy, at a pace where you could hold "
            "a conversation, with one longer run at the weekend that grows by a mile or so each "
            "week. Speed work is optional for a first race; consistency matters far more than "
            "any single session.",
            "Strength work twice a week makes a real difference to injury risk. Squats, lunges, "
            "single-leg deadlifts, calf raises and a few core moves such as planks and dead bugs "
            "take about thirty minutes and need nothing beyond a pair of dumbbells. Do them on "
            "easy days or after a short run, never the day before the long run.",
            "Sleep is the recovery tool that costs nothing. Aim for seven to nine hours, keep the "
            "bedroom cool and dark, and try to go to bed at roughly the same time each night, "
            "including weekends. If you have a bad night before a hard session, swap it for an "
            "easy day; the plan will survive, and you are less likely to pick up a niggle.",
            "Fuelling on long runs is something to practise well before the race. For anything "
            "over ninety minutes, take a gel or a few jelly sweets every forty minutes or so, "
            "with some water. Try the same brand that will be handed out on the course if you "
            "can, because a new product on race day is the classic way to end up with stomach "
            "cramps.",
            "Shoes should feel comfortable straight away rather than needing to be broken in. A "
            "running shop with a treadmill can watch how you move, but the most important test "
            "is whether your feet feel good after a few minutes of jogging. Replace them every "
            "500 to 800 kilometres, and note the date you started using a pair so you know when "
            "they are worn out.",
            "Stretching after a run will not prevent soreness, but a few minutes of gentle "
            "mobility work for the hips, hamstrings and calves helps many people feel looser the "
            "next day. Foam rolling is fine if you enjoy it. Sharp pain, pain that changes how "
            "you run, or swelling are different: stop, rest for a few days, and get it looked at "
            "rather than running through it.",
            "In the final two weeks, cut your mileage by about a third and then by half, while "
            "keeping a little pace in the shorter runs so your legs stay sharp. This taper often "
            "makes people feel restless or sluggish, which is normal. Lay out your kit the night "
            "before the race, pin everything on, and eat a familiar meal rather than anything "
            "new.",
            "On the day, start slower than you think you should. The crowd and the adrenaline "
            "make the first few miles feel easy, and going out too fast is the most common "
            "reason people struggle in the second half. Settle into your planned pace after the "
            "first mile, walk through the drink stations if it helps, and save any push for the "
            "last three miles.",
            "Diet during training does not need to change dramatically. Eat enough to support "
            "the extra running, with carbohydrates around your longer sessions and protein "
            "spread across the day to help muscles repair. Many new runners under-eat without "
            "noticing, which shows up as constant tiredness or stalled progress rather than "
            "hunger.",
            "Track how you feel as well as how far you run. A simple note after each session, "
            "covering sleep, energy, any aches and the weather, makes patterns obvious after a "
            "few weeks. If you feel flat for several days in a row, take two easy days; recovery "
            "is when the training actually turns into progress.",
        ),
    ),
    "work": Topic(
        asks=(
            "I'm drowning at work with the launch coming up, how do I get on top of it?",
            "How can I run my team's releases with less stress?",
        ),
        paragraphs=(
            "When everything feels urgent, list every open task and sort it into what has a hard "
            "deadline, what someone else is waiting on, and what is only important to you. The "
            "first two groups go into the calendar as real blocks of time; the third can wait "
            "for gaps. Most people find that the list is shorter than the anxiety suggested once "
            "it is written down.",
            "Protect two or three mornings a week for focused work and treat them like meetings "
            "with yourself. Turn off notifications, close the chat window, and set your status "
            "to busy. If your team relies on you for quick answers, agree a slot after lunch "
            "when you will go through messages in one batch, which is usually enough for "
            "anything that is not an emergency.",
            "For the launch plan, work backwards from the date. Write down what must be true on "
            "the day, such as the documentation published, support briefed and the pricing page "
            "live, then note who owns each item and when it has to be finished. Anything without "
            "an owner is the thing that will be forgotten, so give every line a single name "
            "rather than a team.",
            "Status meetings tend to grow. A short written update each week, with what moved, "
            "what is blocked and what needs a decision, often replaces half an hour of people "
            "reading out their lists. Keep the meeting itself for decisions and problems, and "
            "end it early when there is nothing to decide.",
            "Code review goes faster when changes are small. A pull request that does one thing, "
            "with a description of why and how to check it, gets reviewed the same day; a "
            "sprawling one sits for a week because nobody has a free afternoon for it. If a "
            "change has to be large, walk a reviewer through it on a short video session before "
            "they start.",
            "Before a release, run through a short checklist rather than relying on memory: "
            "migrations tried against a copy of production data, feature flags set, monitoring "
            "dashboards open, and a rollback plan written down. Releasing early in the week, and "
            "never late before a weekend, means the people who understand the change are around "
            "if something goes wrong.",
            "When you write to a stakeholder, put the conclusion in the first sentence and the "
            "detail afterwards. Busy people read the top of an email and decide whether the rest "
            "matters. If you need a decision, say exactly what the options are and what you "
            "recommend, and give a date by which you need an answer.",
            "Incidents are easier to learn from when the review is blameless. Write down the "
            "timeline, what people knew at each point and why their decisions made sense at the "
            "time, then look for the gaps in tools or process that allowed the problem. The goal "
            "is fewer repeats, not a name to attach to the outage.",
            "Delegating is hard when you know you could do the task faster yourself. Do it anyway "
            "for work that someone else could grow into, explain the outcome you need rather than "
            "the steps, and agree when you will check in. The first time will take longer than "
            "doing it yourself; the third time it will not need you at all.",
            "Keep an eye on your own workload as you would on a service's capacity. If you are "
            "regularly working evenings to keep up, something needs to come off the list, and it "
            "is better to say so early, with a proposal of what to drop or delay, than to miss a "
            "deadline without warning.",
        ),
    ),
}

# Closing and framing paragraphs an assistant writes on any subject; they lengthen answers.
GENERAL = (
    "That is a lot of detail, so here is the short version before the specifics: start with the "
    "parts that are hardest to change later, leave room for things to go differently from the "
    "plan, and do not try to get everything perfect on the first attempt. Most of what follows "
    "is there for reference, and you can come back to it when you reach each step.",
    "A few caveats. I am working from what you have told me so far, and some of this depends on "
    "details I do not have, such as your budget, how much time you can set aside each week and "
    "what you have already tried. If any of those are different from what I have assumed, tell "
    "me and I will adjust the suggestions rather than have you force them to fit.",
    "It also helps to decide in advance what good enough looks like. Without that, small "
    "projects have a way of expanding to fill every free evening, and the last ten per cent "
    "takes as long as the first ninety. Pick the two or three things that matter most to you "
    "and let the rest be merely fine.",
    "If you only do one thing this week, make it the first item on the list above. It unblocks "
    "most of the others, and getting it out of the way tends to make the rest feel much more "
    "manageable. Everything else can be fitted around it as time allows, and none of it is "
    "urgent in the same way.",
    "People often ask whether it is worth paying a professional for this kind of thing. The "
    "honest answer is that it depends on how much you value your time and how much you enjoy "
    "the process. Some parts are genuinely easy to do yourself with a bit of patience; others "
    "are easy to get slightly wrong in ways that cost more to fix later.",
    "One more general point: write things down as you go. A short note of what you decided and "
    "why saves you from having the same debate with yourself again in a month, and it makes it "
    "much easier to pick things up after a break or to hand part of the job to someone else.",
    "Do not be discouraged if the first attempt is uneven. Almost everyone's first try at "
    "something new has rough edges, and the second one is noticeably better simply because you "
    "know what to expect. Treat the first round as practice, keep what worked, and change one "
    "thing at a time rather than everything at once.",
    "If you would like, I can turn this into a checklist with dates, or into a shorter summary "
    "you can keep on your phone. I can also go into more depth on any single part, compare a "
    "couple of alternatives side by side, or suggest what to do if the plan has to change at "
    "short notice.",
    "Costs are worth tracking from the start, even roughly. A simple spreadsheet with what you "
    "expected to spend next to what you actually spent shows very quickly where the estimates "
    "were off, and it is a useful reference the next time you plan something similar.",
    "Finally, leave yourself some slack. Plans that fill every available hour fall apart at the "
    "first delay, whereas a plan with a little breathing room absorbs surprises without drama. "
    "It is far easier to use spare time well than to recover from a schedule that has "
    "collapsed.",
    "It is worth saying what I would not worry about yet. Plenty of the advice you will find "
    "online is aimed at people with far more time, money or experience than the situation calls "
    "for, and following all of it would turn a manageable job into a second career. The basics "
    "above cover the large majority of what makes a difference.",
    "Where you can, ask someone who has done it recently. A friend, a colleague or a neighbour "
    "who went through the same thing last year will remember the small practical details that "
    "guides leave out, such as which step took longer than expected and what they would skip if "
    "they did it again.",
    "Be realistic about energy as well as time. An hour after a long day is not the same as an "
    "hour on a fresh morning, so put the fiddly, careful parts where you are at your best and "
    "keep the evenings for the easy, repetitive tasks that need attention but not much thought.",
    "Some of this will feel like overkill until the day it saves you. Small habits such as "
    "checking twice, keeping spares of the things that run out and noting where you put "
    "important papers are dull, but they are what make the difference when something goes "
    "wrong at an awkward moment.",
    "There is no single right way to do any of this, and reasonable people disagree about the "
    "details. What matters is picking an approach that suits how you actually live and sticking "
    "with it long enough to see whether it works, rather than switching every time you read "
    "a new recommendation.",
    "When you look back at this in a few months, the parts you will remember are unlikely to be "
    "the ones you worried about most. Keep the big decisions deliberate, make the small ones "
    "quickly, and do not let the planning take the fun out of something you chose to do.",
)

FACTS = (
    Fact(
        "travel",
        "I have booked your table at Casa Lupa for half past seven on Friday evening.",
        "When is my dinner reservation?",
    ),
    Fact(
        "travel",
        "Your flight home leaves Lisbon at 06:40, so order the taxi for four in the morning.",
        "How early does my return plane depart?",
    ),
    Fact(
        "travel",
        "The apartment door code is 4471, followed by the hash key.",
        "What digits open the flat's entrance?",
    ),
    Fact(
        "travel",
        "Remember that your passport expires in March, less than six months after the trip.",
        "Is my travel document still valid long enough?",
    ),
    Fact(
        "cooking",
        "Your sister Hannah cannot eat anything containing peanuts, so skip the satay sauce.",
        "Which relative has a nut allergy?",
    ),
    Fact(
        "cooking",
        "The oven in your new place runs about twenty degrees hotter than its dial says.",
        "Is my cooker's thermostat accurate?",
    ),
    Fact(
        "cooking",
        "Your sourdough starter is called Clint and lives on the top shelf of the fridge.",
        "What name did I give the bread culture?",
    ),
    Fact(
        "cooking",
        "The cast iron pan you inherited from your grandmother should never go in the dishwasher.",
        "Which cookware must I clean by hand?",
    ),
    Fact(
        "home",
        "The boiler was last serviced in October by a company called Northside Heating.",
        "Who checked the furnace most recently?",
    ),
    Fact(
        "home",
        "The stopcock for the water mains is under the kitchen sink, behind the bleach.",
        "Where do I shut off the supply if a pipe bursts?",
    ),
    Fact(
        "home",
        "Your landlord, Mr Okafor, agreed to pay for the new windows in the back bedroom.",
        "Who is covering the cost of replacing the glazing?",
    ),
    Fact(
        "home",
        "The paint colour you chose for the hallway is Farrow and Ball Skimming Stone.",
        "Which shade did I pick for the entrance corridor?",
    ),
    Fact(
        "running",
        "Your physiotherapist said to avoid running on hills until the knee has healed.",
        "What exercise restriction did the physio give me?",
    ),
    Fact(
        "running",
        "You take the blood pressure tablet at breakfast and the statin at night.",
        "When should I have my medication?",
    ),
    Fact(
        "running",
        "Your race number for the half marathon in Bristol is 2817.",
        "What bib am I wearing for the 21k?",
    ),
    Fact(
        "running",
        "The gym you signed up for is open from six until ten, even on bank holidays.",
        "What are the fitness club's hours?",
    ),
    Fact(
        "work",
        "The staging database password was rotated on Monday and now lives in the team vault.",
        "Where are the new credentials for the test server kept?",
    ),
    Fact(
        "work",
        "Your manager Priya wants the quarterly report in her inbox by Thursday noon.",
        "When is my boss expecting the three-monthly summary?",
    ),
    Fact(
        "work",
        "The client in Rotterdam prefers calls after two in the afternoon, their time.",
        "When is the best moment to phone the Dutch customer?",
    ),
    Fact(
        "work",
        "Your laptop's warranty with the supplier runs out at the end of August.",
        "Until when is my computer covered for repairs?",
    ),
)

SMALL_TALK = (
    ("user", "Morning! Hope you're well."),
    ("assistant", "Good morning! What can I help with today?"),
    ("user", "Thanks, that's really helpful."),
    ("assistant", "Glad it helps. Shout if anything is unclear."),
    ("user", "I'll read through it properly tonight."),
    ("user", "Can you keep the next one a bit shorter?"),
    ("assistant", "Of course, I'll keep it brief."),
    ("user", "Perfect, talk later."),
)

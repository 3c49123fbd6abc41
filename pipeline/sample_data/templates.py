"""Text templates for the sample-data generator; `{slot}` names refer to make_slots() keys."""

# ruff: noqa: E501  (one template per line reads better than wrapped strings)

SUBJECTS = {
    "billing": [
        "Question about my latest invoice",
        "Charged twice this month",
        "Wrong amount on my statement",
        "Billing error on account {acc}",
        "Unexpected fee on my bill",
        "Invoice total doesn't match my plan",
    ],
    "technical_issue": [
        "App keeps crashing",
        "Can't load the website",
        "Error {code} when paying online",
        "Mobile app not working after update",
        "Bug on the checkout page",
        "Page stuck on loading screen",
    ],
    "account_access": [
        "Locked out of my account",
        "Can't log in",
        "Password reset not working",
        "Two-factor code never arrives",
        "Account locked after failed attempts",
        "Username not recognised",
    ],
    "shipping": [
        "Where is my order?",
        "Package not delivered",
        "Delivery delayed for order {order}",
        "Wrong item shipped",
        "Tracking not updating",
        "Parcel sent to the wrong address",
    ],
    "refund_request": [
        "Refund request for order {order}",
        "Requesting my money back",
        "Return and refund",
        "Refund still not received",
        "Cancel and refund please",
        "Refund for cancelled subscription",
    ],
    "fraud_report": [
        "Unauthorised transactions on my card",
        "I think my account was hacked",
        "Suspicious charge I didn't make",
        "Reporting fraud",
        "Someone used my card",
        "Phishing email pretending to be you",
    ],
}
GENERIC_SUBJECTS = [
    "Need help",
    "Question",
    "Urgent - please respond",
    "Follow up on my previous message",
    "Complaint",
    "Help please!!",
    "Re: your message",
    "Problem with my account",
]
CORE = {
    "billing": [
        "My statement for {date} shows a charge of {amount} that isn't part of my plan, and the invoice total doesn't match what I was quoted.",
        "I was billed twice for the same monthly subscription, once on {date} and again on {date2}.",
        "There is a late payment fee of {amount} on my invoice even though my direct debit went through on time.",
        'Can you explain the "service adjustment" line on my bill? It added {amount} to my balance.',
        "My autopay is set to the card ending {last4}, but the invoice says the payment failed and now there's an overdue balance.",
        "The interest charged on my statement looks wrong, the billing cycle dates don't line up with my payment.",
        "Please send the invoices to my new billing address, {addr}, and correct the VAT on the last bill.",
    ],
    "technical_issue": [
        "The mobile app crashes every time I open it since the last update, I'm on Android 14 and I already tried reinstalling.",
        'When I click "Submit" on the checkout page the website shows "Error {code}, please try again later" and nothing happens.',
        "The app freezes on the loading screen, I cleared the cache and restarted my phone but the bug is still there.",
        "Your website won't load in Chrome or Firefox, the page is blank and the browser console shows a timeout error.",
        "Notifications stopped working in the app and the sync with the desktop version has been broken since {date}.",
        'The online form keeps rejecting my input with an "invalid field" error, even though everything is filled in correctly.',
    ],
    "account_access": [
        "I'm locked out of my online account after too many failed login attempts and the unlock link has expired.",
        "The password reset email never arrives, I've checked spam and tried both {email} and {alt_email}.",
        "The two-factor verification code goes to my old number, please change it to {phone} so I can log in.",
        "When I try to sign in it says my username is not recognised, but I've had account {acc} for years.",
        'I changed my password on {date} and now I can\'t log in at all, it keeps saying "incorrect credentials".',
        "My login works on the website but the app says my account is suspended, please restore my access.",
    ],
    "shipping": [
        "My order {order} was supposed to arrive on {date} but the tracking hasn't updated in a week.",
        "The courier marked my parcel as delivered, but nothing was left at {addr}.",
        "I received the wrong item, the box had a different product than the one I ordered.",
        "Can you change the delivery address for order {order} to {addr}? It hasn't shipped yet.",
        "The package arrived damaged, the box was crushed and the shipping label was torn.",
        "Delivery has been delayed three times now and the carrier says the shipment is stuck at the depot.",
    ],
    "refund_request": [
        "I returned the item on {date} and would like a full refund of {amount} to the card ending {last4}.",
        "I cancelled my subscription within the cooling-off period, so please refund the {amount} you took.",
        "It's been three weeks since you approved my return and I still haven't received the refund.",
        "The product didn't match the description, I want to send it back and get my money back.",
        "Please process a refund for order {order}, the return parcel was accepted at the post office on {date}.",
        "Your agent {agent} ({emp}) promised me a refund on {date} but nothing has been credited yet.",
    ],
    "fraud_report": [
        "There are transactions on my card {card} that I did not make, including {amount} at a shop I've never been to.",
        "I received a phishing email from someone pretending to be you asking for my PIN, and I'm worried my details were stolen.",
        "Someone changed the email on my account without my permission and made a transfer of {amount} on {date}.",
        "My card was stolen yesterday, please block card {card} immediately and issue a new one.",
        "I got a text asking me to confirm a payment I never authorised, and now there's a suspicious charge on my statement.",
        "I think my identity was used to open a new account, I never applied for account {acc}.",
    ],
}
VAGUE = [
    "I have a problem with my account and I'd like someone to look into it.",
    "Something isn't right and I need help sorting it out.",
    "I already contacted you about this and it's still not resolved.",
    "Please call me back about the issue I mentioned last time.",
]
PII_LINES = [
    "You can reach me at {phone} or by email at {email}.",
    "My account number is {acc} in case you need it.",
    "I already spoke with {agent} ({emp}) on the phone about this on {date}.",
    "My {rel} {spouse} is also on the account and can be reached on {alt_phone}.",
    "My address is {addr}.",
    "The card on file is {card}.",
    "Please reply to {alt_email}, I don't check my work email often.",
    "My date of birth is {dob} if you need to verify me.",
    "Your colleague {agent}, employee id {emp}, said someone would call me back.",
    "My order number is {order}, placed on {date}.",
]
MASKED_LINES = [
    "Your last email showed my card as XXXX-XXXX-XXXX-{last4} and my birth date as XX/XX/XXXX.",
    'The automated reply said "Dear <PERSON>, a credit of {{$1,100.00}} has been issued", which I never got.',
    "Reference from the last letter: card XXXX-XXXX-XXXX-{last4}, holder <PERSON>.",
]
FILLER = [
    "I've been a customer for many years and this has never happened before.",
    "Honestly, this is really frustrating.",
    "I tried calling but the wait time was over an hour.",
    "Please get back to me as soon as possible.",
    "I'd appreciate a quick response, thanks in advance.",
    "I'm not very good with computers, so please keep it simple.",
    "This is the second time I'm writing about this.",
    "Let me know if you need any more information from me.",
    "I'm travelling next week, so email is best.",
    'Your chat bot was no help, it just kept repeating "I didn\'t understand that".',
    "I hope this can be resolved quickly, it's causing me a lot of stress.",
]
OPENERS = [
    "Hi, this is {first}.",
    "Hello,",
    "Dear support team,",
    "Hi there, my name is {name}.",
    "Good morning,",
    "To whom it may concern,",
    "Hi,",
]
CLOSINGS = [
    "Thanks,\n{name}",
    "Regards,\n{first}",
    "Best wishes, {name}",
    "Kind regards,\n{name}\n{phone}",
    "",
    "Cheers, {first}",
    "Thank you.",
]
AGENT_LINES = [
    "Hi {first}, thanks for reaching out, this is {agent} ({emp}). I can see account {acc} here.",
    "Thanks {first}. Can you confirm the phone number we have on file, {phone}?",
    "Sorry to hear that, {first}. I've opened a case for you, reference {order}.",
]
FOLLOW_UPS = [
    "Yes, that's right.",
    "My email is {email} if that helps.",
    "Thanks, how long will it take?",
    "Ok. The card ends in {last4}.",
    "I'm at {addr} most days if someone needs to come by.",
]
AGENT_CLOSINGS = [
    "You're welcome, {first}. Is there anything else I can help with?",
    "I've sent a confirmation to {email}. Have a great day!",
    "All done. You'll get an update within 3-5 business days.",
]
CP1252_LINES = [
    "I also mentioned this to José Müller at the café counter, naïve of me perhaps.",
    "My neighbour José said the café in town had the same problem – naïve of me to wait, Mrs Müller agreed.",
]
SYNONYMS = [
    ("problem", "issue"),
    ("received", "got"),
    ("please", "kindly"),
    ("order", "purchase"),
    ("frustrating", "annoying"),
    ("help", "assistance"),
    ("week", "fortnight"),
    ("quickly", "soon"),
    ("immediately", "right away"),
    ("never", "not once"),
]

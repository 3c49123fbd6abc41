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
# --- chat_messages.jsonl: support conversations in the messages form (role and content per turn) ---
CHAT_GREETINGS = [
    "Hi {first}, thanks for getting in touch.",
    "Hello {first}, this is {agent} from customer support.",
    "Thanks for reaching out, {first}.",
    "Hi there, {agent} here, happy to help.",
    "Good to hear from you, {first}.",
    "Hello, and sorry for the wait.",
    "Hi {first}, I've picked up your message.",
]
# one answer per CORE template of the topic, in the same order: the agent answers what the customer wrote
CHAT_REPLIES = {
    "billing": [
        "I've looked at the statement and the {amount} charge came from an add-on that was switched on by mistake; I've removed it, and your next invoice will match the price you were quoted.",
        "You're right, the subscription was billed twice. I've voided the second charge and the money will be back on the card ending {last4} within five working days.",
        "The late fee was added by mistake because the direct debit cleared a day after the cut-off. I've removed it and marked the account as paid on time.",
        "The service adjustment line is a one-off correction for last quarter's VAT. If you'd rather not pay it in one go, I can split it over three bills.",
        "The payment failed because the card ending {last4} expired last month. Once you add the new expiry date in the app, I'll waive the overdue charge.",
        "You're right, the interest was calculated on the old billing cycle. I've recalculated it and credited the difference to your account.",
        "I've updated the billing address on account {acc} and reissued the last invoice with the corrected VAT; it should arrive by email shortly.",
    ],
    "technical_issue": [
        "Sorry about the crashes. Version 4.2.1 fixes a problem on Android 14, so please update from the store and let me know if it still closes on startup.",
        "Error {code} means the payment session timed out. Clearing the browser cookies for our site and trying again usually solves it; I've also reset your session on our side.",
        "Thanks for trying that already. The freeze comes from an offline file that clearing the cache doesn't remove: go to Settings, Storage, Clear data, then open the app and log in again.",
        "Could you try a private browsing window? If the page loads there, an extension is blocking our scripts, and allowing our site in your ad blocker will sort it.",
        "Our engineers confirmed a sync outage that started on {date}; it's fixed now, and signing out and back in will bring your notifications and data back.",
        "That form rejects addresses longer than 40 characters, which is a bug on our side. I've raised it with the developers, and in the meantime I can update the details for you here.",
    ],
    "account_access": [
        "I've unlocked your account and sent a fresh link to {email}; it's valid for 30 minutes, so please use it soon.",
        "Reset emails sometimes land in the promotions tab rather than spam. I've resent it to {email} and added a backup code to your account in case it doesn't show up.",
        "For security I've verified you with the details on file, and the two-factor number is now {phone}. Try logging in again and the code should arrive by text.",
        "The username on account {acc} is your email address rather than your name, which is why the sign-in failed. Please try it that way.",
        "I can see the password change on {date}. I've cleared the old sessions, so the new password will work on every device now.",
        "The app still had a suspension flag from some failed logins last month. I've lifted it, so please log out of the app and back in.",
    ],
    "shipping": [
        "I've checked order {order}: it was held up at the depot but is moving again, so you should have it within two working days.",
        "Sorry the parcel didn't arrive. I've opened a trace with the courier, and if it isn't found in 48 hours we'll send a replacement free of charge.",
        "I'm sorry you received the wrong item. A prepaid return label is on its way by email, and the correct product ships today by express delivery.",
        "I've changed the delivery address for order {order} to {addr}; it hadn't left the warehouse yet, so nothing else is needed from you.",
        "Please keep the damaged box and send us a photo of it. Once we have it, I'll arrange a replacement and the courier will collect the broken one.",
        "The delay comes from a backlog at the regional depot. I've upgraded the shipment to priority and added a voucher to your account for the inconvenience.",
    ],
    "refund_request": [
        "Your return arrived on {date} and I've approved the refund of {amount}. It goes back to the card ending {last4} and usually shows within 3-5 business days.",
        "As you cancelled within the cooling-off period, you're entitled to a full refund. I've processed it today, and you'll receive a confirmation by email.",
        "I can see the refund was approved but never sent because of a system error. I've pushed it through manually, so it should reach your account this week.",
        "Sorry that the product wasn't as described. You don't need to send it back; I've refunded the full amount as a goodwill gesture.",
        "I've logged the return for order {order}. As soon as the warehouse scans the parcel, the refund is released automatically.",
        "I checked with {agent} ({emp}) and the promised refund is now on its way. I've added a note to the account so this doesn't happen again.",
    ],
    "fraud_report": [
        "I've blocked the card and disputed the transactions you don't recognise, including the {amount} one. A new card will be posted to your registered address within five days.",
        "Thank you for reporting the phishing email. We never ask for your PIN; please don't reply to it, and I've added extra security checks to account {acc}.",
        "I've frozen the account while our fraud team investigates the transfer of {amount} on {date}. They'll contact you on {phone} within 24 hours.",
        "I've blocked the card straight away, so nothing more can be charged to it, and a replacement is on its way to your registered address.",
        "I've raised a fraud case and disputed the charge. You won't be liable for it, and the amount will be credited back while the case is open.",
        "We take identity fraud seriously. I've closed account {acc}, flagged your details with our fraud team and sent you a letter with the next steps.",
    ],
}
CHAT_ECHOES = [
    "I've noted {phone} as the best number to reach you.",
    "A confirmation has been sent to {email}.",
    "Just to confirm, this is for account {acc}, registered to {name}.",
    "I've added a note on account {acc} so my colleagues can see it.",
    "Your reference for this chat is {order}.",
]
# a customer's further question per topic, and the agent's answer to it at the same position
CHAT_NEXT_STEPS = [
    "You'll find a summary of this chat in your inbox.",
    "I've set a reminder to check on this again on Friday.",
    "If you reply within the next 24 hours, the chat comes straight back to me.",
    "Our team is a bit busy this week, so thank you for bearing with us.",
    "I've also made a note of it on your customer record.",
    "You can follow the progress under Help, My cases, in the app.",
    "Let me know if anything here doesn't look right to you.",
    "If you'd rather talk it through, we're on the phone from 8am to 8pm.",
]
CHAT_USER_FOLLOW_UPS = {
    "billing": [
        "Will the credit show on this month's bill or the next one?",
        "Can you send me a corrected invoice to {email}?",
        "Does this mean the direct debit amount changes as well?",
    ],
    "technical_issue": [
        "I updated the app but it still crashes when I open the payments tab.",
        "Is there a way to use the website while the app is broken?",
        "Will I lose my saved settings if I clear the data?",
    ],
    "account_access": [
        "The link worked, thanks. Do I need to log in again on my tablet?",
        "I still haven't received the code, my number is {phone}.",
        "Can you remove my old email {alt_email} from the account?",
    ],
    "shipping": [
        "Can the courier leave it with a neighbour if I'm not home?",
        "Is there a tracking number I can use on the courier's website?",
        "I'm at {addr} most days, can they deliver in the afternoon?",
    ],
    "refund_request": [
        "How will I know when the money has been sent?",
        "Can the refund go to a different card? The old one ending {last4} was cancelled.",
        "Do I need to keep the packaging?",
    ],
    "fraud_report": [
        "Do I need to report this to the police as well?",
        "Will my direct debits still work while the card is blocked?",
        "Can you check whether anyone else tried to log in to my account?",
    ],
}
CHAT_AGENT_FOLLOW_UPS = {
    "billing": [
        "The credit will appear on your next statement, and I've emailed you a corrected invoice as well.",
        "I've sent the corrected invoice to {email}; let me know if anything on it looks wrong.",
        "Yes, the direct debit will be adjusted automatically from next month.",
    ],
    "technical_issue": [
        "In that case please send us the crash report from Settings, Help, Send diagnostics, and I'll pass it straight to the developers.",
        "Yes, everything in the app is also available on our website, including payments and statements.",
        "Your settings are stored in your account, so they'll come back as soon as you log in again.",
    ],
    "account_access": [
        "You'll need to log in once on each device, after that it will remember you.",
        "I've resent the code to {phone}; it can take a couple of minutes to arrive.",
        "Done, the old address has been removed and only your current email remains on the account.",
    ],
    "shipping": [
        "I've added a delivery note asking the courier to leave it with a neighbour if you're out.",
        "Yes, the tracking number is in your order confirmation email, and I've resent it to you.",
        "I've asked for an afternoon delivery slot; the courier will text you on the morning of delivery.",
    ],
    "refund_request": [
        "You'll get an email as soon as the refund is sent, and it will also show in your order history.",
        "Refunds can only go back to the original payment method, but if that card is closed your bank will pass it to the new one.",
        "No need to keep the packaging, the refund has already been approved.",
    ],
    "fraud_report": [
        "It's a good idea to report it to the police too; the crime reference number will help the investigation.",
        "Direct debits will keep working, they're linked to your account rather than the card.",
        "I checked the login history and there were no other attempts, but I've turned on login alerts for you.",
    ],
}
CHAT_USER_CLOSINGS = [
    "Thanks, that's all I needed.",
    "Great, thank you for your help.",
    "Perfect, cheers.",
    "OK, thanks for sorting that out so quickly.",
    "That's everything, thanks {agent}.",
]
CHAT_AGENT_SIGNOFFS = [
    "You're welcome, {first}. Have a lovely day!",
    "Glad I could help. If anything else comes up, just reply to this chat.",
    "My pleasure. I'll keep this case open for a few days in case you need anything.",
    "Thanks for your patience, {first}, and take care.",
]

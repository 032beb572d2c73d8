"""How kpibot looks in Slack, shared by the bot and the digests: Slack's limits (:mod:`slackui.limits`), safe mrkdwn
text (:mod:`slackui.text`), Block Kit blocks (:mod:`slackui.blocks`) and fitting long content under the limits
(:mod:`slackui.fitting`). It knows nothing of listeners, digests or KPIs: bot and digests import it, and it
imports no other package of kpibot."""

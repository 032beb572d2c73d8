"""What every Slack surface of kpibot shares: how text from outside (the CRM, the config) becomes safe mrkdwn."""

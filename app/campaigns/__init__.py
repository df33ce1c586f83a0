"""Invitation campaigns (邀约, CONTRACT section 10): campaigns, invitees, their steps and tasks."""

"""HubSpot CRM emulator."""

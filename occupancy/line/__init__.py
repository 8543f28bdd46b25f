"""The waiting line of a full venue (issue 18): join, wait, be offered places, claim or leave."""

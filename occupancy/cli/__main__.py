from occupancy.cli import app

app()

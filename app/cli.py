"""``flask create-user``."""

from __future__ import annotations

import click
from flask.cli import with_appcontext
from flask_babel import gettext as _

from .extensions import db
from .models import User


@click.command("create-user")
@with_appcontext
@click.argument("name")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def create_user(name: str, password: str) -> None:
    """Create a user NAME with a password."""
    if db.session.scalar(db.select(User).filter_by(username=name)):
        raise click.ClickException(_("The name %(name)s is taken. Choose another one.", name=repr(name)))
    user = User(username=name)
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    click.echo(_("Created the user %(name)s (id %(id)s).", name=name, id=user.id))

"""get_json_schema: the same tool schemas as transformers.utils.get_json_schema, and its errors."""

from __future__ import annotations

from enum import Enum
from typing import Any, Optional, Union

import pytest

from chat_cases import get_weather, multiply, untyped
from workbench import get_json_schema
from workbench.tokenization import DocstringParsingException, TypeHintParsingException

transformers = pytest.importorskip("transformers")
from transformers.utils import get_json_schema as reference_get_json_schema  # noqa: E402


class Unit(Enum):
    CELSIUS = "celsius"
    FAHRENHEIT = "fahrenheit"



def search(
    query: str,
    tags: list[str],
    limit: Optional[int] = None,
    weights: dict[str, float] | None = None,
    point: tuple[int, str] = (0, ""),
    mode: Union[str, bool] = "fast",
    shape: list[int] | str = "",
    extra: Any = None,
    scale: Unit = Unit.CELSIUS,
    verbose: bool = False,
):
    """Search the knowledge base.

    Searches every indexed document.

    Args:
        query: What to look for
        tags: Tags the results must carry
        limit: At most this many results
        weights: A weight per field
        point: A (row, label) pair
        mode: How hard to search (choices: ["fast", "thorough"])
        shape: The output shape
        extra: Anything else
        scale: The temperature scale
        verbose: Print progress

    Raises:
        ValueError: when the query is empty.
    """


def nested(a: int, b: list[dict[str, int]] | None = None) -> list[int]:
    """Do things.
    Second line of description.

    Args:
        a: first
           continued deeper
        b:
            on the next line
            and more (choices: [1, 2])

    Returns:
        A list
        of ints.

    Raises:
        ValueError: never
    """


def with_example(a: int) -> int:
    """Double a number.

    Args:
        a: The number

    Example:
        with_example(2)
    """
    return 2 * a


def no_arguments() -> str:
    """Tell the time."""
    return "noon"


class Calculator:
    def add(self, a: int, b: int) -> int:
        """Add two integers.

        Args:
            a: The first integer
            b: The second integer

        Returns:
            The sum
        """
        return a + b


class Opaque:
    pass


def returns_custom(name: str) -> Opaque:
    """Build an opaque object.

    Args:
        name: Its name
    """
    return Opaque()



SCHEMA_FUNCTIONS = [get_weather, multiply, search, nested, with_example, no_arguments, Calculator().add, returns_custom]


@pytest.mark.parametrize("func", SCHEMA_FUNCTIONS, ids=lambda f: f.__name__)
def test_get_json_schema_matches_reference(func):
    assert get_json_schema(func) == reference_get_json_schema(func)


def test_get_json_schema_details():
    schema = get_json_schema(search)["function"]
    properties = schema["parameters"]["properties"]
    assert schema["description"] == "Search the knowledge base.\n\nSearches every indexed document."
    assert schema["parameters"]["required"] == ["query", "tags"]
    assert properties["limit"] == {"type": "integer", "nullable": True, "description": "At most this many results"}
    assert properties["mode"] == {
        "type": ["boolean", "string"], "enum": ["fast", "thorough"], "description": "How hard to search"
    }
    assert properties["shape"]["anyOf"] == [{"type": "array", "items": {"type": "integer"}}, {"type": "string"}]
    assert properties["scale"]["enum"] == ["celsius", "fahrenheit"]
    assert get_json_schema(multiply)["function"]["parameters"]["properties"]["y"]["description"] == (
        "The second number to multiply; it may also be an integer."
    )
    assert "return" not in get_json_schema(returns_custom)["function"]  # an odd return hint is left out


def test_get_json_schema_accepts_typed_google_arguments():
    def scale(value: float, factor: float = 2.0) -> float:
        """Scale a value.

        Args:
            value (float): The value
            factor (float, optional): The factor
        """

    properties = get_json_schema(scale)["function"]["parameters"]["properties"]
    assert properties["factor"] == {"type": "number", "description": "The factor"}


def undocumented(city: str, days: int):
    """Forecast.

    Args:
        city: The city
    """


def no_docstring(city: str):
    pass


def custom_argument(thing: Opaque):
    """Use a thing.

    Args:
        thing: The thing
    """


@pytest.mark.parametrize(
    "func, error, message",
    [
        (untyped, TypeHintParsingException, "argument 'city' has no type hint"),
        (undocumented, DocstringParsingException, "does not describe the argument 'days'"),
        (no_docstring, DocstringParsingException, "no docstring"),
        (custom_argument, TypeHintParsingException, "no JSON schema equivalent"),
    ],
)
def test_get_json_schema_errors(func, error, message):
    reference_errors = (transformers.utils.TypeHintParsingException, transformers.utils.DocstringParsingException)
    with pytest.raises(reference_errors):
        reference_get_json_schema(func)
    with pytest.raises(error, match=message):
        get_json_schema(func)

"""The chat page's modules in a real browser, one function at a time: escaping, CSV, numbers, charts."""

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def modules(live_server, new_page):
    """A page on Querent's origin with the page's modules loaded as `window.m`."""
    page = new_page()
    page.goto(live_server.url + "/accounts/login/")  # an HTML page of Querent without the app running
    page.evaluate("""async () => {
        const load = (name) => import(`/static/querent/${name}.js`);
        const [markdown, util, chart, conversation] = await Promise.all(["markdown", "util", "chart", "conversation"].map(load));
        window.m = {...markdown, ...util, ...chart, ...conversation};
    }""")
    return page


def render(page, text: str) -> dict:
    return page.evaluate("""(text) => {
        const seen = [];
        const node = window.m.renderMarkdown(text, (attrs) => {
            seen.push(attrs);
            const slot = document.createElement('aside');
            slot.textContent = 'ARTIFACT:' + attrs.identifier;
            return slot;
        });
        return {html: node.innerHTML, artifacts: seen,
                tags: [...node.querySelectorAll('*')].map((e) => e.tagName.toLowerCase()),
                links: [...node.querySelectorAll('a')].map((a) => [a.getAttribute('href'), a.rel])};
    }""", text)


def test_model_text_cannot_inject_markup(modules):
    out = render(modules, 'Hi <img src=x onerror="alert(1)"> <script>alert(2)</script> [bad](javascript:alert(3)) [ok](https://example.org/a?b=1&c=2)')
    assert "img" not in out["tags"] and "script" not in out["tags"]
    assert "&lt;img" in out["html"] and "&lt;script&gt;" in out["html"]
    assert out["links"] == [["https://example.org/a?b=1&c=2", "noopener noreferrer"]]


def test_markdown_subset_and_artifact_references(modules):
    text = (
        "# Summary\n**Bold** and *italic* and `code <b>`\n\n- one\n- two\n\n1. first\n2. second\n\n"
        "<artifact identifier='top_customers' warning='I cannot see the full data' />\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n\n```sql\nSELECT '<x>'\n```\n> quoted"
    )
    out = render(modules, text)
    assert out["artifacts"] == [{"identifier": "top_customers", "warning": "I cannot see the full data"}]
    for tag in ["h3", "strong", "em", "code", "ul", "ol", "li", "table", "pre", "blockquote", "aside"]:
        assert tag in out["tags"], tag
    assert "code &lt;b&gt;" in out["html"] and "SELECT '&lt;x&gt;'" in out["html"].replace("&#39;", "'")
    assert out["html"].index("ARTIFACT:top_customers") < out["html"].index("<table")
    assert modules.evaluate("window.m.artifactReferences(`a <artifact identifier=\"x\"/> b <artifact identifier='y'></artifact>`)") == ["x", "y"]


def test_streaming_view_hides_half_arrived_artifact_tags(modules):
    view = lambda text: modules.evaluate("(t) => window.m.streamingView(t)", text)  # noqa: E731
    assert view("Here:\n\n<artifact identifier='top' warning='w' />\nDone") == "Here:\n\n[top]\nDone"
    assert view("Here:\n\n<artifa") == "Here:\n\n"
    assert view("Here:\n\n<artifact identifier='to") == "Here:\n\n"
    assert view("2 < 3 and 4 > 1") == "2 < 3 and 4 > 1"
    assert view("x < 3") == "x < 3"


def test_numbers_csv_and_columns(modules):
    numbers = modules.evaluate("['$1,234.50', '12%', '-3', '1e3', 'abc', '', null, true, 7].map(window.m.toNumber)")
    assert numbers == [1234.5, 12, -3, 1000, None, None, None, None, 7]
    csv = modules.evaluate("""window.m.toCsv(['name', 'note', 'n'], [
        {name: 'Ana, Jr.', note: 'said "hi"', n: -5},
        {name: '=HYPERLINK("x")', note: 'line1\\nline2', n: null},
        {name: '-12.5', note: '@cmd', n: {a: 1}},
    ])""")
    assert csv.split("\r\n") == [
        "name,note,n",
        '"Ana, Jr.","said ""hi""",-5',
        '"\'=HYPERLINK(""x"")","line1\nline2",',
        '-12.5,\'@cmd,"{""a"":1}"',
        "",
    ]
    assert modules.evaluate("window.m.columnsOf([{a: 1}, {b: 2, a: 3}])") == ["a", "b"]
    assert modules.evaluate("window.m.numericColumns([{a: '1', b: 'x'}, {a: null, b: 'y'}])") == ["a"]


def test_chart_specs_are_checked_and_drawn(modules):
    problem = "(spec) => window.m.chartProblem(spec)"
    assert modules.evaluate(problem, {"type": "bar", "x": "g", "y": "n", "rows": []}) == "The chart has no rows to draw."
    assert "'total'" in modules.evaluate(problem, {"type": "bar", "x": "g", "y": "total", "rows": [{"g": "a", "n": 1}]})
    assert modules.evaluate(problem, {"type": "bar", "x": "g", "y": "n", "rows": [{"g": "a", "n": "x"}]}) == "Column 'n' has no numbers to draw."
    assert modules.evaluate("window.m.niceTicks(0, 1297)") == [0, 500, 1000, 1500]
    drawn = modules.evaluate("""() => {
        const rows = [{k: 'a', v: 3, w: 1}, {k: 'b', v: '4.5', w: 2}, {k: 'c', v: 1, w: 3}];
        const count = (spec, selector) => window.m.renderChart({rows, x: 'k', ...spec}).querySelectorAll(selector).length;
        return {
            bars: count({type: 'bar', y: 'v'}, 'rect.bar'),
            grouped: count({type: 'bar', y: ['v', 'w']}, 'rect.bar'),
            line: count({type: 'line', y: 'v'}, 'path.line'),
            area: count({type: 'area', y: 'v'}, 'path.area'),
            pie: count({type: 'pie', y: 'v'}, 'path.slice'),
            scatter: window.m.renderChart({rows, type: 'scatter', x: 'w', y: 'v'}).querySelectorAll('circle.point').length,
            unknownType: count({type: 'sankey', y: 'v'}, 'rect.bar'),
            problem: window.m.renderChart({rows, type: 'bar', x: 'k', y: 'nope'}).className,
        };
    }""")
    assert drawn == {"bars": 3, "grouped": 6, "line": 1, "area": 1, "pie": 3, "scatter": 3, "unknownType": 3, "problem": "chart-problem"}

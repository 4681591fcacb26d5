# Copyright (c) mmdet-causal contributors. All rights reserved.
"""The pages' copies of the rendered tables: a marked block is replaced by
its file's text, the rest of the page is left as it is, and the committed
pages hold every marked table as it is rendered today."""
import contextlib
import io
import os.path as osp
import sys
import tempfile
import unittest

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
sys.path.insert(0, osp.join(ROOT, 'benchmarks', 'long_tail'))
import paste  # noqa: E402

TABLE = '| row | AP |\n|---|---|\n| a | 1.0 |\n'
PAGE = ('# A page\n\nText before.\n\n<!-- t.md -->\n\n{}\n\n<!-- end t.md -->'
        '\n\nText after, and a table of its own:\n\n| x |\n|---|\n')


class TestPaste(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        with open(osp.join(self.tmp.name, 't.md'), 'w') as f:
            f.write(TABLE)

    def test_a_stale_block_gets_the_files_text_and_nothing_else_changes(self):
        text, changed = paste.paste(
            PAGE.format('| row | AP |\n|---|---|\n| a | 0.5 |'), self.tmp.name)
        self.assertEqual(text, PAGE.format(TABLE.strip()))
        self.assertEqual(changed, ['t.md'])
        again, changed = paste.paste(text, self.tmp.name)
        self.assertEqual((again, changed), (text, []))

    def test_an_empty_block_is_filled(self):
        page = '<!-- t.md -->\n<!-- end t.md -->\n'
        text, changed = paste.paste(page, self.tmp.name)
        self.assertEqual(
            text, f'<!-- t.md -->\n\n{TABLE.strip()}\n\n<!-- end t.md -->\n')
        self.assertEqual(changed, ['t.md'])

    def test_other_comments_and_pages_without_blocks_are_left_alone(self):
        page = '# Title\n\n<!-- a note -->\n\n| x |\n|---|\n'
        self.assertEqual(paste.paste(page, self.tmp.name), (page, []))

    def test_errors_name_the_fix(self):
        with self.assertRaisesRegex(ValueError, 'has no "<!-- end t.md -->"'):
            paste.paste('<!-- t.md -->\n\n| old |\n', self.tmp.name)
        with self.assertRaisesRegex(ValueError, 'campaign.sh tables'):
            paste.paste('<!-- none.md -->\n<!-- end none.md -->\n',
                        self.tmp.name)

    def test_check_changes_nothing_and_names_the_stale_block(self):
        name = 'benchmarks/long_tail/study_sets.md'
        page = osp.join(self.tmp.name, 'page.md')
        stale = f'<!-- {name} -->\n\n| old |\n\n<!-- end {name} -->\n'
        with open(page, 'w') as f:
            f.write(stale)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            self.assertEqual(paste.main(['--check', page]), 1)
        self.assertIn(f'stale {page}: {name}', out.getvalue())
        with open(page) as f:
            self.assertEqual(f.read(), stale)
        with contextlib.redirect_stdout(io.StringIO()):
            self.assertEqual(paste.main([page]), 0)
        with open(osp.join(ROOT, name)) as f, open(page) as g:
            self.assertIn(f.read().strip(), g.read())


class TestCommittedPages(unittest.TestCase):
    """Every marked block of the study page and the README is its file as
    committed (``paste.py --check``), and the study page marks every table
    the campaign renders that it shows."""

    PAGES = ('docs/long_tail_study.md', 'README.md')

    def test_every_block_is_current(self):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            self.assertEqual(
                paste.main(['--check'] +
                           [osp.join(ROOT, p) for p in self.PAGES]), 0,
                out.getvalue())

    def test_the_study_page_marks_the_tables_it_shows(self):
        with open(osp.join(ROOT, self.PAGES[0])) as f:
            page = f.read()
        for name in ('results_study.md', 'selection_rules.md',
                     'study_longtail2/results_study.md', 'study_sets.md',
                     'study_conclusions_sets.md', 'study_schedule.md',
                     'study_longtail2/selection_rules.md',
                     'study_convergence.md'):
            self.assertIn(f'<!-- benchmarks/long_tail/{name} -->', page)


if __name__ == '__main__':
    unittest.main()

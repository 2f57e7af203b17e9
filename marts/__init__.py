from utfall import one_name

one_name(__name__)
